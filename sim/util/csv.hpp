#pragma once
// CSV output: one field, quoted (RFC 4180) when it holds a comma, a quote or a newline.
#include <string>

namespace moska {

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace moska
