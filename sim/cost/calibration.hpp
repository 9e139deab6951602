#pragma once
// Measured operator times (hw_profiles/<gpu>/*.csv, written by tools/profile_kernels.py),
// interpolated over each operator's shape. Filled in by the calibration work (issue 3).
#include <optional>
#include <string>

#include "sim/hw/gpu.hpp"
#include "sim/model/operators.hpp"

namespace moska {

class CalibrationTables {
 public:
  static CalibrationTables load(const std::string& dir, const GpuSpec& gpu);
  // Seconds for one instance of `op`, or nullopt where the tables do not cover it.
  std::optional<double> lookup(const Op& op) const;
  std::string summary() const;

 private:
  std::string dir_;
};

}  // namespace moska
