#include "sim/workload/sharegpt_lengths.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

namespace {

// Standard-normal quadrature: midpoints of kPoints cells over [-kZ, kZ].
constexpr int kPoints = 512;
constexpr double kZ = 7.0;
constexpr int kIterations = 200;
constexpr double kMinAcceptance = 0.01;  // below it, drawing until a pair passes would take too long

struct Moments {
  double input = 0, output = 0, acceptance = 0;
};

// Means of the rounded lengths after the filter, and the share of pairs that pass it.
Moments filtered_means(const ShareGptLengths& s, double mu_in, double mu_out) {
  const double dz = 2 * kZ / kPoints;
  std::vector<double> y(kPoints), w(kPoints);
  for (int k = 0; k < kPoints; ++k) {
    const double z = -kZ + (k + 0.5) * dz;
    w[static_cast<std::size_t>(k)] = std::exp(-0.5 * z * z) * dz / std::sqrt(2 * M_PI);
    y[static_cast<std::size_t>(k)] = std::round(std::exp(mu_out + s.output_sigma * z));
  }
  // Prefix sums of weight and weight x length over the (increasing) output lengths.
  std::vector<double> cw(kPoints + 1, 0.0), cwy(kPoints + 1, 0.0);
  for (std::size_t k = 0; k < static_cast<std::size_t>(kPoints); ++k) {
    cw[k + 1] = cw[k] + w[k];
    cwy[k + 1] = cwy[k] + w[k] * y[k];
  }
  const auto lo_y = static_cast<std::size_t>(std::lower_bound(y.begin(), y.end(), static_cast<double>(s.min)) - y.begin());
  double mass = 0, sx = 0, sy = 0;
  for (int i = 0; i < kPoints; ++i) {
    const double z = -kZ + (i + 0.5) * dz;
    const double x = std::round(std::exp(mu_in + s.input_sigma * z));
    if (x < static_cast<double>(s.min) || x > static_cast<double>(s.max_input)) continue;
    const double wx = w[static_cast<std::size_t>(i)];
    const double y_max = static_cast<double>(s.max_total) - x;
    const auto hi_y = static_cast<std::size_t>(std::upper_bound(y.begin(), y.end(), y_max) - y.begin());
    if (hi_y <= lo_y) continue;
    const double m = cw[hi_y] - cw[lo_y];
    mass += wx * m;
    sx += wx * m * x;
    sy += wx * (cwy[hi_y] - cwy[lo_y]);
  }
  if (mass <= 0) return {};
  return {sx / mass, sy / mass, mass};
}

}  // namespace

std::string check_sharegpt(const ShareGptLengths& s) {
  if (s.min < 1) return fmt::format("min is {} (expected an integer >= 1)", s.min);
  if (s.max_input < s.min) return fmt::format("max_input {} < min {}", s.max_input, s.min);
  if (s.max_total < 2 * s.min) return fmt::format("max_total {} < 2 x min {}", s.max_total, s.min);
  if (!(s.input_sigma > 0 && s.input_sigma <= 5) || !(s.output_sigma > 0 && s.output_sigma <= 5)) {
    return "input_sigma and output_sigma must be in (0, 5]";
  }
  if (!(s.input_mean > static_cast<double>(s.min) && s.input_mean < static_cast<double>(s.max_input))) {
    return fmt::format("input_mean {} is not strictly between min {} and max_input {}", s.input_mean, s.min, s.max_input);
  }
  if (!(s.output_mean > static_cast<double>(s.min) && s.output_mean < static_cast<double>(s.max_total - s.min))) {
    return fmt::format("output_mean {} is not strictly between min {} and max_total - min {}", s.output_mean, s.min,
                       s.max_total - s.min);
  }
  return "";
}

ShareGptSampler::ShareGptSampler(const ShareGptLengths& spec) : s_(spec) {
  if (auto e = check_sharegpt(spec); !e.empty()) throw InputError("sharegpt lengths: " + e);
  // Fixed point: move each log-median by the log of target / filtered mean until both means match.
  mu_in_ = std::log(spec.input_mean);
  mu_out_ = std::log(spec.output_mean);
  Moments m;
  bool converged = false;
  for (int it = 0; it < kIterations && !converged; ++it) {
    m = filtered_means(spec, mu_in_, mu_out_);
    if (m.acceptance <= 0) break;
    const double ri = spec.input_mean / m.input, ro = spec.output_mean / m.output;
    converged = std::fabs(ri - 1) < 1e-4 && std::fabs(ro - 1) < 1e-4;
    mu_in_ += std::log(ri);
    mu_out_ += std::log(ro);
  }
  if (!converged || m.acceptance < kMinAcceptance) {
    throw InputError(fmt::format("sharegpt lengths: no lognormal pair with sigmas {} / {} has filtered means {} / {} "
                                 "(expected means well inside the filter's bounds)",
                                 spec.input_sigma, spec.output_sigma, spec.input_mean, spec.output_mean));
  }
}

void ShareGptSampler::draw(Rng& in, Rng& out, std::int64_t& prompt, std::int64_t& output) const {
  for (;;) {
    const double x = std::round(in.lognormal(mu_in_, s_.input_sigma));
    const double y = std::round(out.lognormal(mu_out_, s_.output_sigma));
    if (x < static_cast<double>(s_.min) || x > static_cast<double>(s_.max_input) || y < static_cast<double>(s_.min) ||
        x + y > static_cast<double>(s_.max_total)) {
      continue;
    }
    prompt = static_cast<std::int64_t>(x);
    output = static_cast<std::int64_t>(y);
    return;
  }
}

}  // namespace moska
