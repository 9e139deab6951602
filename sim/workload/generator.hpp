#pragma once
// Synthetic workloads from a JSON spec:
//
//   {"requests": 1000,
//    "arrival": {"process": "poisson", "rate_per_s": 4},            // | gamma (+ "cv") | constant | burst
//    "input_tokens":  {"dist": "lognormal", "mean": 2048, "sigma": 0.8, "min": 16, "max": 32768},
//    "output_tokens": {"dist": "uniform", "min": 64, "max": 512},
//    (or, for both: "lengths": {"dist": "sharegpt", "input_mean": 217, "output_mean": 201}: sharegpt_lengths.hpp)
//    "corpus": {"count": 8, "popularity": "zipf", "zipf_s": 1.0},    // optional
//    "families": {"count": 50, "similarity": {"min": 0.7, "max": 1.0}},  // optional (FamilySpec)
//    "seed": 7}                                                      // optional, default 0
//
// Every draw uses moska::Rng (portable), so a spec and seed give the same requests everywhere.
// Arrivals, input lengths, output lengths and corpora each draw from their own stream (forked from
// the seed), so changing one distribution leaves the others' draws unchanged.
#include <cstdint>
#include <optional>
#include <vector>

#include "sim/util/json_reader.hpp"
#include "sim/workload/sharegpt_lengths.hpp"
#include "sim/workload/request.hpp"

namespace moska {

// A distribution of token counts; every draw is an integer >= 1.
struct TokenDist {
  enum class Kind {
    constant,   // "value": v
    uniform,    // integers in [min, max], each equally likely
    lognormal,  // "mean" (of the distribution, in tokens), "sigma" (of the log), clamped to [min, max]
    zipf,       // min + k, k in 0..max-min with P(k) ~ 1/(k+1)^s ("s", default 1): short ones most likely
    mixture,    // "parts": [{"weight": w, "tokens": {a distribution}}, ...]: a part drawn by weight, then its length
  };
  Kind kind = Kind::constant;
  std::int64_t value = 1;           // constant
  std::int64_t min = 1;             // uniform, lognormal (default 1), zipf (default 1)
  std::int64_t max = 1;             // uniform, lognormal (default 1'000'000'000), zipf
  double mean = 0;                  // lognormal: arithmetic mean before clamping; mu = ln(mean) - sigma^2/2
  double sigma = 0;                 // lognormal
  double s = 1;                     // zipf exponent
  std::vector<TokenDist> parts;     // mixture (e.g. short chats and very long documents: bimodal)
  std::vector<double> weights;      // mixture, > 0 each, relative
};

struct ArrivalSpec {
  enum class Process {
    poisson,   // exponential gaps, mean 1/rate
    gamma,     // gamma gaps, mean 1/rate, coefficient of variation cv (cv = 1 is Poisson)
    constant,  // request i at exactly i/rate
    burst,     // groups of burst_size arriving together, groups burst_size/rate apart
  };
  Process process = Process::poisson;
  double rate_per_s = 1;  // > 0; for burst, optional when burst_size covers all requests
  double cv = 1;          // gamma only, > 0
  std::int64_t burst_size = 0;  // burst only; 0 = all requests in one burst at t = 0
};

struct CorpusSpec {
  enum class Popularity { uniform, zipf };
  std::int32_t count = 1;  // corpora 0..count-1
  Popularity popularity = Popularity::uniform;
  double zipf_s = 1.0;    // zipf: P(corpus k) ~ 1/(k+1)^zipf_s
  double fraction = 1.0;  // share of requests attached to a corpus (others get -1)
};

// Families of semantically similar prompts (SemShareKV's setting: rewrites of one document). A request
// joins family f (drawn by popularity) with probability `fraction`; the family's first request is its
// document and fixes the family's prompt length (later members take that length, so input_tokens is
// drawn once per family); each later member keeps a share s of the document's sentences, uniform in
// [similarity_min, similarity_max], and rewrites each other sentence, and s is its `similarity`. For
// exact prefix caching, members carry prefix-block hashes (block_tokens per block; 0 = none): the
// blocks before the first rewritten sentence are the document's, the rest the member's own. The
// first rewritten sentence is the K-th, K geometric with P(rewritten) = 1 - s per sentence.
// first_is_document = false: every request is a rewrite (its document was served before the run; a
// system may hold it from the start), the family's length still fixed by its first request.
struct FamilySpec {
  std::int32_t count = 1;
  CorpusSpec::Popularity popularity = CorpusSpec::Popularity::uniform;
  double zipf_s = 1.0;
  double fraction = 1.0;
  double similarity_min = 1.0, similarity_max = 1.0;
  std::int64_t sentence_tokens = 25;
  std::int64_t block_tokens = 512;
  bool first_is_document = true;
};

struct GeneratorSpec {
  std::int64_t requests = 0;
  ArrivalSpec arrival;
  TokenDist input_tokens;
  TokenDist output_tokens;
  // Joint prompt/output lengths instead of the two above: {"dist": "sharegpt", "input_mean", ...}.
  std::optional<ShareGptLengths> lengths;
  std::optional<CorpusSpec> corpus;
  std::optional<FamilySpec> families;
  std::uint64_t seed = 0;
};

// Reads the whole object (unknown keys anywhere are InputErrors naming the key path), so a scenario
// file can embed the spec under a key of its own: parse_generator_spec(scenario.object("workload")).
GeneratorSpec parse_generator_spec(const JsonReader& r);
TokenDist parse_token_dist(const JsonReader& r);
ShareGptLengths parse_sharegpt_lengths(const JsonReader& r);

// Requests with ids 0..n-1, arrivals non-decreasing from t = 0 (the first request arrives at 0).
// Throws InputError if the spec is inconsistent (it is checked again here for specs built in C++).
std::vector<Request> generate(const GeneratorSpec& spec);

}  // namespace moska
