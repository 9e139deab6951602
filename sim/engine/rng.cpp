#include "sim/engine/rng.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace moska {

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(std::uint64_t seed) : seed_(seed) {
  std::uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
}

std::uint64_t Rng::next_u64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

std::uint64_t Rng::below(std::uint64_t n) {
  if (n == 0) throw std::invalid_argument("Rng::below(0)");
  // Lemire's rejection keeps it unbiased.
  std::uint64_t threshold = (0 - n) % n;
  for (;;) {
    std::uint64_t r = next_u64();
    if (r >= threshold) return r % n;
  }
}

double Rng::exponential(double rate) {
  if (!(rate > 0) || !std::isfinite(rate)) throw std::invalid_argument("Rng::exponential: rate must be finite and > 0");
  return -std::log1p(-uniform()) / rate;
}

double Rng::normal(double mean, double stddev) {
  // Box-Muller; one of the pair is dropped so the stream position depends only on call count.
  double u1 = uniform();
  double u2 = uniform();
  double r = std::sqrt(-2.0 * std::log1p(-u1));
  return mean + stddev * r * std::cos(2.0 * M_PI * u2);
}

double Rng::lognormal(double mu, double sigma) { return std::exp(normal(mu, sigma)); }

double Rng::gamma(double shape, double scale) {
  // Marsaglia-Tsang terminates for any finite shape > 0; an infinite or NaN shape (a CV that
  // underflowed to 0) would loop forever, so it is refused (callers validate their inputs first).
  if (!(shape > 0) || !std::isfinite(shape) || !(scale >= 0) || !std::isfinite(scale)) {
    throw std::invalid_argument("Rng::gamma: shape must be finite and > 0, scale finite and >= 0");
  }
  if (shape < 1.0) {
    double u = uniform();
    return gamma(shape + 1.0, scale) * std::pow(1.0 - u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = normal(0.0, 1.0);
    double v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    double u = uniform();
    if (std::log1p(-u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v * scale;
  }
}

Rng Rng::fork(std::uint64_t label) const {
  std::uint64_t x = seed_ ^ (label * 0xd1b54a32d192ed03ULL);
  return Rng(splitmix64(x));
}

ZipfSampler::ZipfSampler(std::uint64_t n, double s) {
  if (n == 0) throw std::invalid_argument("ZipfSampler: n must be > 0");
  if (!(s >= 0) || !std::isfinite(s)) throw std::invalid_argument("ZipfSampler: s must be finite and >= 0");
  cdf_.resize(n);
  double acc = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    acc += 1.0 / std::pow(static_cast<double>(i + 1), s);
    cdf_[i] = acc;
  }
  for (auto& c : cdf_) c /= acc;
  cdf_.back() = 1.0;
}

std::uint64_t ZipfSampler::sample(Rng& rng) const {
  double u = rng.uniform();
  auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  return static_cast<std::uint64_t>(std::min<std::ptrdiff_t>(it - cdf_.begin(), static_cast<std::ptrdiff_t>(cdf_.size()) - 1));
}

double ZipfSampler::probability(std::uint64_t rank) const {
  return rank == 0 ? cdf_[0] : cdf_[rank] - cdf_[rank - 1];
}

}  // namespace moska
