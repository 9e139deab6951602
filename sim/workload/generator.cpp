#include "sim/workload/generator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "sim/engine/rng.hpp"
#include "sim/engine/time.hpp"
#include "sim/util/error.hpp"

namespace moska {

namespace {

constexpr std::int64_t kLognormalMaxDefault = 1'000'000'000;
constexpr std::int64_t kZipfMaxRange = 10'000'000;  // the inverse-CDF table has one double per value
// Requests are held in memory (~100 bytes each with their record): 10^8 is ~10 GB.
constexpr std::int64_t kMaxRequests = 100'000'000;
constexpr std::int64_t kMaxCorpora = 1'000'000;  // the Zipf table has one double per corpus
// Ranges that keep every draw finite and every sampler terminating (a gamma CV that underflows
// makes the shape infinite; a lognormal sigma of 1e200 makes mu - inf + inf = NaN).
constexpr double kMinCv = 1e-3, kMaxCv = 1e3;
constexpr double kMaxSigma = 10;
constexpr double kMaxMeanTokens = 1e12;
constexpr double kMaxZipfS = 100;
constexpr double kMaxRate = 1e9;  // requests per second
constexpr std::size_t kMaxMixtureParts = 16;

// Consistency checks shared by the JSON parser (which reports key paths) and generate() (which may
// get a spec built in C++). Returns "" when fine, else "<field>: <problem> (expected <form>)".
std::string check_dist(const TokenDist& d) {
  using K = TokenDist::Kind;
  switch (d.kind) {
    case K::constant:
      if (d.value < 1 || d.value > kMaxRequestTokens) {
        return fmt::format("value is {} (expected an integer in 1..{})", d.value, kMaxRequestTokens);
      }
      return "";
    case K::uniform:
    case K::lognormal:
    case K::zipf:
      if (d.min < 1) return fmt::format("min is {} (expected an integer >= 1)", d.min);
      if (d.max < d.min) return fmt::format("max {} < min {} (expected min <= max)", d.max, d.min);
      if (d.max > kMaxRequestTokens) return fmt::format("max is {} (expected at most {} tokens)", d.max, kMaxRequestTokens);
      if (d.kind == K::lognormal) {
        if (!(d.mean > 0 && d.mean <= kMaxMeanTokens)) {
          return fmt::format("mean is {} (expected a number in (0, {}])", d.mean, kMaxMeanTokens);
        }
        if (!(d.sigma >= 0 && d.sigma <= kMaxSigma)) return fmt::format("sigma is {} (expected a number in [0, {}])", d.sigma, kMaxSigma);
      }
      if (d.kind == K::zipf) {
        if (d.max - d.min >= kZipfMaxRange) {
          return fmt::format("range {}..{} is too wide (expected max - min < {})", d.min, d.max, kZipfMaxRange);
        }
        if (!(d.s >= 0 && d.s <= kMaxZipfS)) return fmt::format("s is {} (expected a number in [0, {}])", d.s, kMaxZipfS);
      }
      return "";
    case K::mixture:
      if (d.parts.empty() || d.parts.size() > kMaxMixtureParts || d.weights.size() != d.parts.size()) {
        return fmt::format("parts has {} entries (expected 1..{}, each with a weight)", d.parts.size(), kMaxMixtureParts);
      }
      for (std::size_t i = 0; i < d.parts.size(); ++i) {
        if (!(d.weights[i] > 0 && std::isfinite(d.weights[i]))) {
          return fmt::format("parts[{}].weight is {} (expected a finite number > 0)", i, d.weights[i]);
        }
        if (auto e = check_dist(d.parts[i]); !e.empty()) return fmt::format("parts[{}].tokens.{}", i, e);
      }
      return "";
  }
  return "unknown distribution";
}

std::string check_spec(const GeneratorSpec& s) {
  if (s.requests < 1 || s.requests > kMaxRequests) {
    return fmt::format("requests is {} (expected an integer in 1..{})", s.requests, kMaxRequests);
  }
  const auto& a = s.arrival;
  const bool one_burst = a.process == ArrivalSpec::Process::burst && (a.burst_size == 0 || a.burst_size >= s.requests);
  if (!one_burst && !(a.rate_per_s > 0 && a.rate_per_s <= kMaxRate)) {
    return fmt::format("arrival.rate_per_s is {} (expected a number in (0, {:g}])", a.rate_per_s, kMaxRate);
  }
  if (a.process == ArrivalSpec::Process::gamma && !(a.cv >= kMinCv && a.cv <= kMaxCv)) {
    return fmt::format("arrival.cv is {} (expected a number in [{:g}, {:g}]; 1 is Poisson, use \"constant\" for 0)", a.cv,
                       kMinCv, kMaxCv);
  }
  if (a.burst_size < 0) return fmt::format("arrival.burst_size is {} (expected an integer >= 0)", a.burst_size);
  // The last arrival must fall inside the simulated clock's range (with room for the run after it).
  if (!one_burst) {
    const double last_s = static_cast<double>(s.requests - 1) / a.rate_per_s;
    if (!(last_s < kClockRangeSeconds / 2)) {
      return fmt::format("arrival.rate_per_s is {}: {} requests would arrive over {:.3g} s, beyond the simulated clock's "
                         "range (9.2e9 s, about 292 years; expected a higher rate)", a.rate_per_s, s.requests, last_s);
    }
  }
  if (s.lengths) {
    if (auto e = check_sharegpt(*s.lengths); !e.empty()) return "lengths." + e;
  } else {
    if (auto e = check_dist(s.input_tokens); !e.empty()) return "input_tokens." + e;
    if (auto e = check_dist(s.output_tokens); !e.empty()) return "output_tokens." + e;
  }
  if (s.corpus) {
    const auto& c = *s.corpus;
    if (c.count < 1 || c.count > kMaxCorpora) return fmt::format("corpus.count is {} (expected an integer in 1..{})", c.count, kMaxCorpora);
    if (!(c.zipf_s >= 0 && c.zipf_s <= kMaxZipfS)) return fmt::format("corpus.zipf_s is {} (expected a number in [0, {}])", c.zipf_s, kMaxZipfS);
    if (!(c.fraction >= 0 && c.fraction <= 1)) return fmt::format("corpus.fraction is {} (expected a number in [0, 1])", c.fraction);
  }
  if (s.families) {
    const auto& f = *s.families;
    if (f.count < 1) return fmt::format("families.count is {} (expected an integer >= 1)", f.count);
    if (!(f.zipf_s >= 0) || !std::isfinite(f.zipf_s)) return fmt::format("families.zipf_s is {} (expected a number >= 0)", f.zipf_s);
    if (!(f.fraction >= 0 && f.fraction <= 1)) return fmt::format("families.fraction is {} (expected a number in [0, 1])", f.fraction);
    if (!(f.similarity_min >= 0 && f.similarity_min <= f.similarity_max && f.similarity_max <= 1)) {
      return fmt::format("families.similarity is [{}, {}] (expected 0 <= min <= max <= 1)", f.similarity_min, f.similarity_max);
    }
    if (f.sentence_tokens < 1) return fmt::format("families.sentence_tokens is {} (expected an integer >= 1)", f.sentence_tokens);
    if (f.block_tokens < 0) return fmt::format("families.block_tokens is {} (expected an integer >= 0)", f.block_tokens);
  }
  return "";
}

// What corpora and families both have: a count, a popularity ("uniform", or "zipf" with its
// "zipf_s") and the share of requests that belong to one.
void parse_group(JsonReader& c, std::int32_t max_count, std::int32_t& count, CorpusSpec::Popularity& pop, double& zipf_s,
                 double& fraction) {
  count = c.int32("count", 1, max_count);
  fraction = c.number_or("fraction", 1.0);
  if (!(fraction >= 0 && fraction <= 1)) c.fail("fraction", "a number in [0, 1]");
  const std::string name = c.string_or("popularity", "uniform");
  if (name == "uniform") {
    pop = CorpusSpec::Popularity::uniform;
  } else if (name == "zipf") {
    pop = CorpusSpec::Popularity::zipf;
    zipf_s = c.number_in_or("zipf_s", 0, kMaxZipfS, 1.0);
  } else {
    c.fail("popularity", fmt::format("\"uniform\" or \"zipf\" (got \"{}\")", name));
  }
}

// Block hash ids of a family's document (shared by its members' unchanged prefixes) and of one
// member's own blocks: distinct 64-bit values (splitmix64 of a tagged counter).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
std::uint64_t block_hash(bool document, std::uint64_t owner, std::uint64_t block) {
  return mix((document ? 0xd0c0000000000000ULL : 0x0e0e000000000000ULL) ^ (owner << 24) ^ block) | 1;
}

// Draws token counts; holds the Zipf table when the distribution needs one.
class TokenSampler {
 public:
  explicit TokenSampler(const TokenDist& d) : d_(d) {
    if (d.kind == TokenDist::Kind::zipf) {
      zipf_ = std::make_unique<ZipfSampler>(static_cast<std::uint64_t>(d.max - d.min + 1), d.s);
    }
    if (d.kind == TokenDist::Kind::lognormal) mu_ = std::log(d.mean) - 0.5 * d.sigma * d.sigma;
    double total = 0;
    for (std::size_t i = 0; i < d.parts.size(); ++i) {
      parts_.push_back(std::make_unique<TokenSampler>(d.parts[i]));
      cumulative_.push_back(total += d.weights[i]);
    }
  }

  std::int64_t operator()(Rng& rng) const {
    switch (d_.kind) {
      case TokenDist::Kind::constant: return d_.value;
      case TokenDist::Kind::uniform:
        return d_.min + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(d_.max - d_.min) + 1));
      case TokenDist::Kind::lognormal: {
        double x = std::round(rng.lognormal(mu_, d_.sigma));
        x = std::clamp(x, static_cast<double>(d_.min), static_cast<double>(d_.max));
        return static_cast<std::int64_t>(x);
      }
      case TokenDist::Kind::zipf: return d_.min + static_cast<std::int64_t>(zipf_->sample(rng));
      case TokenDist::Kind::mixture: {
        const double u = rng.uniform() * cumulative_.back();
        std::size_t i = 0;
        while (i + 1 < cumulative_.size() && u >= cumulative_[i]) ++i;
        return (*parts_[i])(rng);
      }
    }
    return d_.min;
  }

 private:
  TokenDist d_;
  double mu_ = 0;
  std::unique_ptr<ZipfSampler> zipf_;
  std::vector<std::unique_ptr<TokenSampler>> parts_;  // mixture
  std::vector<double> cumulative_;                    // mixture: running sums of the weights
};

}  // namespace

TokenDist parse_token_dist(const JsonReader& r) {
  TokenDist d;
  const std::string kind = r.string("dist");
  if (kind == "constant") {
    d.kind = TokenDist::Kind::constant;
    d.value = r.integer("value", 1, kMaxRequestTokens);
  } else if (kind == "uniform") {
    d.kind = TokenDist::Kind::uniform;
    d.min = r.integer("min", 1, kMaxRequestTokens);
    d.max = r.integer("max", 1, kMaxRequestTokens);
  } else if (kind == "lognormal") {
    d.kind = TokenDist::Kind::lognormal;
    d.mean = r.positive("mean");
    if (d.mean > kMaxMeanTokens) r.fail("mean", fmt::format("a number in (0, {}] (got {})", kMaxMeanTokens, d.mean));
    d.sigma = r.number_in("sigma", 0, kMaxSigma);
    d.min = r.integer_or("min", 1, 1, kMaxRequestTokens);
    d.max = r.integer_or("max", 1, kLognormalMaxDefault, kMaxRequestTokens);
  } else if (kind == "zipf") {
    d.kind = TokenDist::Kind::zipf;
    d.min = r.integer_or("min", 1, 1, kMaxRequestTokens);
    d.max = r.integer("max", 1, kMaxRequestTokens);
    d.s = r.number_in_or("s", 0, kMaxZipfS, 1.0);
  } else if (kind == "mixture") {
    d.kind = TokenDist::Kind::mixture;
    for (const auto& part : r.array_of_objects("parts")) {
      d.weights.push_back(part.positive("weight"));
      d.parts.push_back(parse_token_dist(part.object("tokens")));
      part.finish();
    }
    if (d.parts.empty() || d.parts.size() > kMaxMixtureParts) r.fail("parts", fmt::format("1..{} parts", kMaxMixtureParts));
  } else {
    r.fail("dist", fmt::format("\"constant\", \"uniform\", \"lognormal\", \"zipf\" or \"mixture\" (got \"{}\")", kind));
  }
  if (d.kind != TokenDist::Kind::constant && d.kind != TokenDist::Kind::mixture && d.max < d.min) {
    r.fail("max", fmt::format("an integer >= min ({}), got {}", d.min, d.max));
  }
  if (d.kind == TokenDist::Kind::zipf && d.max - d.min >= kZipfMaxRange) {
    r.fail("max", fmt::format("max - min < {} (the Zipf table holds one entry per value)", kZipfMaxRange));
  }
  r.finish();
  return d;
}

ShareGptLengths parse_sharegpt_lengths(const JsonReader& r) {
  const std::string kind = r.string("dist");
  if (kind != "sharegpt") r.fail("dist", fmt::format("\"sharegpt\" (got \"{}\")", kind));
  ShareGptLengths l;
  l.input_mean = r.number_or("input_mean", l.input_mean);
  l.output_mean = r.number_or("output_mean", l.output_mean);
  l.input_sigma = r.number_or("input_sigma", l.input_sigma);
  l.output_sigma = r.number_or("output_sigma", l.output_sigma);
  l.min = r.integer_or("min", 1, l.min, kMaxRequestTokens);
  l.max_input = r.integer_or("max_input", 1, l.max_input, kMaxRequestTokens);
  l.max_total = r.integer_or("max_total", 2, l.max_total, kMaxRequestTokens);
  r.finish();
  if (auto e = check_sharegpt(l); !e.empty()) throw InputError(fmt::format("{}: key '{}': {}", r.where(), r.key_path("dist"), e));
  return l;
}

GeneratorSpec parse_generator_spec(const JsonReader& r) {
  GeneratorSpec s;
  s.requests = r.integer("requests", 1, kMaxRequests);

  {
    JsonReader a = r.object("arrival");
    const std::string p = a.string("process");
    auto& ar = s.arrival;
    if (p == "poisson") {
      ar.process = ArrivalSpec::Process::poisson;
      ar.rate_per_s = a.positive("rate_per_s");
    } else if (p == "gamma") {
      ar.process = ArrivalSpec::Process::gamma;
      ar.rate_per_s = a.positive("rate_per_s");
      ar.cv = a.number_in("cv", kMinCv, kMaxCv);
    } else if (p == "constant") {
      ar.process = ArrivalSpec::Process::constant;
      ar.rate_per_s = a.positive("rate_per_s");
    } else if (p == "burst") {
      ar.process = ArrivalSpec::Process::burst;
      ar.burst_size = a.integer_or("burst_size", 1, 0);
      const bool one_burst = ar.burst_size == 0 || ar.burst_size >= s.requests;
      if (!one_burst || a.has("rate_per_s")) {
        ar.rate_per_s = a.positive("rate_per_s");
      }
    } else {
      a.fail("process", fmt::format("\"poisson\", \"gamma\", \"constant\" or \"burst\" (got \"{}\")", p));
    }
    a.finish();
  }

  if (r.has("lengths")) {
    if (r.has("input_tokens") || r.has("output_tokens")) r.fail("lengths", "to be absent when input_tokens/output_tokens are given");
    s.lengths = parse_sharegpt_lengths(r.object("lengths"));
  } else {
    s.input_tokens = parse_token_dist(r.object("input_tokens"));
    s.output_tokens = parse_token_dist(r.object("output_tokens"));
  }

  if (r.has("corpus")) {
    JsonReader c = r.object("corpus");
    CorpusSpec cs;
    parse_group(c, static_cast<std::int32_t>(kMaxCorpora), cs.count, cs.popularity, cs.zipf_s, cs.fraction);
    c.finish();
    s.corpus = cs;
  }

  if (r.has("families")) {
    JsonReader c = r.object("families");
    FamilySpec fs;
    parse_group(c, std::numeric_limits<std::int32_t>::max(), fs.count, fs.popularity, fs.zipf_s, fs.fraction);
    // "similarity": a number, or {"min", "max"} (uniform).
    if (c.has("similarity") && c.raw("similarity").is_object()) {
      JsonReader sim = c.object("similarity");
      fs.similarity_min = sim.number("min");
      fs.similarity_max = sim.number("max");
      sim.finish();
    } else {
      fs.similarity_min = fs.similarity_max = c.number("similarity");
    }
    if (!(fs.similarity_min >= 0 && fs.similarity_min <= fs.similarity_max && fs.similarity_max <= 1)) {
      c.fail("similarity", "a number in [0, 1], or {\"min\", \"max\"} with 0 <= min <= max <= 1");
    }
    fs.sentence_tokens = c.integer_or("sentence_tokens", 1, fs.sentence_tokens);
    fs.block_tokens = c.integer_or("block_tokens", 0, fs.block_tokens);
    fs.first_is_document = c.boolean_or("first_is_document", true);
    c.finish();
    s.families = fs;
  }

  if (r.has("seed")) s.seed = static_cast<std::uint64_t>(r.integer("seed", 0));
  r.finish();
  if (auto e = check_spec(s); !e.empty()) throw InputError(fmt::format("{}: {}", r.where(), e));
  return s;
}

namespace {
// Family, length, similarity and prefix-block hashes of request r (see FamilySpec).
void assign_family(const FamilySpec& f, const ZipfSampler* zipf, Rng& rng, std::vector<std::int64_t>& length,
                   Request& r) {
  // Three draws per request whatever the outcome, so one request's choice does not shift the others'.
  const double join = rng.uniform();
  const std::uint64_t pick = zipf ? zipf->sample(rng) : rng.below(static_cast<std::uint64_t>(f.count));
  const double u_sim = rng.uniform();
  const double u_first = rng.uniform();
  if (!(f.fraction >= 1.0 || join < f.fraction)) return;
  r.family = static_cast<std::int32_t>(pick);
  auto& len = length[pick];
  const bool document = len == 0 && f.first_is_document;
  if (len == 0) len = r.input_tokens;
  r.input_tokens = len;
  r.similarity = document ? 1.0 : f.similarity_min + (f.similarity_max - f.similarity_min) * u_sim;
  if (f.block_tokens <= 0) return;
  // Tokens before the first rewritten sentence: K sentences, P(K >= k) = s^k.
  std::int64_t kept = r.input_tokens;
  const double s = r.similarity;
  if (!document && s < 1.0) {
    const double k = s <= 0.0 ? 0.0 : std::floor(std::log(1.0 - u_first) / std::log(s));
    kept = static_cast<std::int64_t>(std::min(static_cast<double>(r.input_tokens), k * static_cast<double>(f.sentence_tokens)));
  }
  const std::int64_t blocks = (r.input_tokens + f.block_tokens - 1) / f.block_tokens;
  r.block_hashes.resize(static_cast<std::size_t>(blocks));
  for (std::int64_t b = 0; b < blocks; ++b) {
    const bool shared = (b + 1) * f.block_tokens <= kept || (document || kept == r.input_tokens);
    r.block_hashes[static_cast<std::size_t>(b)] =
        shared ? block_hash(true, pick, static_cast<std::uint64_t>(b)) : block_hash(false, r.id, static_cast<std::uint64_t>(b));
  }
}
}  // namespace

std::vector<Request> generate(const GeneratorSpec& spec) {
  if (auto e = check_spec(spec); !e.empty()) throw InputError("generator spec: " + e);
  const auto n = static_cast<std::size_t>(spec.requests);
  const Rng root(spec.seed);
  Rng arrivals = root.fork(1);
  Rng inputs = root.fork(2);
  Rng outputs = root.fork(3);
  Rng corpora = root.fork(4);
  const TokenSampler in_dist(spec.input_tokens);
  const TokenSampler out_dist(spec.output_tokens);
  std::unique_ptr<ShareGptSampler> joint;
  if (spec.lengths) joint = std::make_unique<ShareGptSampler>(*spec.lengths);
  std::unique_ptr<ZipfSampler> corpus_zipf;
  if (spec.corpus && spec.corpus->popularity == CorpusSpec::Popularity::zipf) {
    corpus_zipf = std::make_unique<ZipfSampler>(static_cast<std::uint64_t>(spec.corpus->count), spec.corpus->zipf_s);
  }
  Rng families = root.fork(5);
  std::unique_ptr<ZipfSampler> family_zipf;
  std::vector<std::int64_t> family_length;  // 0 until the family's document arrives
  if (spec.families) {
    const auto& f = *spec.families;
    if (f.popularity == CorpusSpec::Popularity::zipf) {
      family_zipf = std::make_unique<ZipfSampler>(static_cast<std::uint64_t>(f.count), f.zipf_s);
    }
    family_length.assign(static_cast<std::size_t>(f.count), 0);
  }

  const auto& a = spec.arrival;
  const double mean_gap_s = 1.0 / a.rate_per_s;
  const double gamma_shape = 1.0 / (a.cv * a.cv);
  const double gamma_scale = mean_gap_s / gamma_shape;
  const auto burst = static_cast<std::size_t>(a.burst_size == 0 ? spec.requests : std::min(a.burst_size, spec.requests));
  double t_s = 0;  // running arrival time of the random processes

  // A random process can still wander past the clock (an unlucky run of huge gamma gaps).
  // `ns` is the arrival in ns as a double (computed as before the check, so outputs do not move).
  auto to_ns = [&](double ns, std::size_t i) {
    if (!(ns < kClockRangeSeconds / 2 * 1e9)) {
      throw InputError(fmt::format("generator: request {} would arrive at {:.6g} s, beyond the simulated clock's range "
                                   "(9.2e9 s, about 292 years; expected a higher arrival.rate_per_s)", i, ns * 1e-9));
    }
    return std::llround(ns);
  };
  std::vector<Request> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    Request& r = out[i];
    r.id = i;
    switch (a.process) {
      case ArrivalSpec::Process::poisson:
        if (i > 0) t_s += arrivals.exponential(a.rate_per_s);
        r.arrival_ns = to_ns(t_s * 1e9, i);
        break;
      case ArrivalSpec::Process::gamma:
        if (i > 0) t_s += arrivals.gamma(gamma_shape, gamma_scale);
        r.arrival_ns = to_ns(t_s * 1e9, i);
        break;
      case ArrivalSpec::Process::constant:
        r.arrival_ns = to_ns(static_cast<double>(i) * 1e9 / a.rate_per_s, i);
        break;
      case ArrivalSpec::Process::burst: {
        const std::size_t group = i / burst;
        r.arrival_ns = group == 0 ? 0 : to_ns(static_cast<double>(group * burst) * 1e9 / a.rate_per_s, i);
        break;
      }
    }
    if (joint) {
      std::int64_t in = 0, out_tokens = 0;
      joint->draw(inputs, outputs, in, out_tokens);
      r.input_tokens = in;
      r.output_tokens = out_tokens;
    } else {
      r.input_tokens = in_dist(inputs);
      r.output_tokens = out_dist(outputs);
    }
    if (spec.corpus) {
      const auto& c = *spec.corpus;
      if (c.fraction >= 1.0 || corpora.uniform() < c.fraction) {
        r.corpus = static_cast<std::int32_t>(corpus_zipf ? corpus_zipf->sample(corpora)
                                                         : corpora.below(static_cast<std::uint64_t>(c.count)));
      }
    }
    if (spec.families) assign_family(*spec.families, family_zipf.get(), families, family_length, r);
  }
  return out;
}

}  // namespace moska
