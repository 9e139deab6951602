// The architecture as docs/ARCHITECTURE.md states it, enforced on the source tree:
//   - layers: a file under sim/<layer>/ includes only sim/ headers of its own layer or of layers
//     before it in the order the document's "Layer order:" line gives;
//   - systems: the name of a registered system appears as a string literal only under sim/systems/
//     (everything else asks the System objects), except where a word that is also a system's name
//     means something else (a trace format, a composite-iteration kind), listed below with why.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sim/systems/system.hpp"

using namespace moska;

namespace {

namespace fs = std::filesystem;
const fs::path kRoot = MOSKA_SOURCE_DIR;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// "Layer order: util < engine < ..." from docs/ARCHITECTURE.md.
std::vector<std::string> layer_order() {
  const std::string doc = slurp(kRoot / "docs" / "ARCHITECTURE.md");
  std::smatch m;
  REQUIRE(std::regex_search(doc, m, std::regex(R"(Layer order: `([a-z_ <]+)`)")));
  std::vector<std::string> out;
  std::stringstream ss(m[1].str());
  std::string tok;
  while (ss >> tok) {
    if (tok != "<") out.push_back(tok);
  }
  return out;
}

std::vector<fs::path> sources() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(kRoot / "sim")) {
    const auto ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".cpp" || ext == ".hpp")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string layer_of(const fs::path& p) { return fs::relative(p, kRoot / "sim").begin()->string(); }

std::string without_comments(const std::string& text) {
  static const std::regex line_comment(R"(//[^\n]*)");
  return std::regex_replace(text, line_comment, "");
}

}  // namespace

TEST_CASE("layering: every sim/ file includes only its own layer or the layers before it") {
  const auto order = layer_order();
  REQUIRE(order.size() >= 10);
  std::map<std::string, std::size_t> rank;
  for (std::size_t i = 0; i < order.size(); ++i) rank[order[i]] = i;
  const std::regex include(R"(#include "sim/([a-z_]+)/)");
  int checked = 0;
  for (const auto& f : sources()) {
    const std::string layer = layer_of(f);
    INFO(fs::relative(f, kRoot).string());
    REQUIRE(rank.count(layer) == 1);  // every folder is a layer the document names
    const std::string text = slurp(f);
    for (std::sregex_iterator it(text.begin(), text.end(), include), end; it != end; ++it) {
      const std::string dep = (*it)[1].str();
      INFO("includes sim/" << dep << "/");
      REQUIRE(rank.count(dep) == 1);
      CHECK(rank[dep] <= rank[layer]);
      ++checked;
    }
  }
  REQUIRE(checked > 100);
}

TEST_CASE("layering: system names appear as string literals only under sim/systems/") {
  // Words that are also system names but mean something else there.
  const std::set<std::pair<std::string, std::string>> allowed = {
      {"workload", "mooncake"},  // trace formats are named after their origin (Mooncake's released traces)
      {"workload", "moska"},     // moska-sim's own JSONL trace format
      {"analysis", "moska"},     // the measured composite iterations' kind (validate: decode, prefill, moska)
  };
  int names = 0;
  for (const System* s : all_systems()) {
    ++names;
    std::string literal = "\"";
    literal.append(s->name()).append("\"");
    for (const auto& f : sources()) {
      const std::string layer = layer_of(f);
      if (layer == "systems" || allowed.count({layer, std::string(s->name())})) continue;
      INFO(fs::relative(f, kRoot).string() << " names system " << s->name());
      CHECK(without_comments(slurp(f)).find(literal) == std::string::npos);
    }
  }
  REQUIRE(names >= 9);
}
