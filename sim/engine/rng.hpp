#pragma once
// Seeded random numbers whose sequences are the same on every platform and standard library:
// the generator is splitmix64/xoshiro256**, and each distribution is written out here rather than
// taken from <random> (whose distributions differ between implementations).
#include <cstdint>
#include <vector>

namespace moska {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0);
  std::uint64_t next_u64();
  double uniform();                         // [0, 1)
  double uniform(double lo, double hi);     // [lo, hi)
  std::uint64_t below(std::uint64_t n);     // [0, n), unbiased
  double exponential(double rate);          // mean 1/rate
  double normal(double mean, double stddev);
  double lognormal(double mu, double sigma);
  double gamma(double shape, double scale);  // Marsaglia-Tsang
  // An independent stream derived from this one's seed and a label (for per-component RNGs).
  Rng fork(std::uint64_t label) const;

 private:
  std::uint64_t s_[4];
  std::uint64_t seed_;
};

// Samples ranks 0..n-1 with P(i) proportional to 1/(i+1)^s, by inverse CDF over a precomputed table.
class ZipfSampler {
 public:
  ZipfSampler(std::uint64_t n, double s);
  std::uint64_t sample(Rng& rng) const;
  double probability(std::uint64_t rank) const;

 private:
  std::vector<double> cdf_;
};

}  // namespace moska
