#include "sim/cost/calibration.hpp"

namespace moska {

CalibrationTables CalibrationTables::load(const std::string& dir, const GpuSpec&) {
  CalibrationTables t;
  t.dir_ = dir;
  return t;
}

std::optional<double> CalibrationTables::lookup(const Op&) const { return std::nullopt; }

std::string CalibrationTables::summary() const { return "no tables yet"; }

}  // namespace moska
