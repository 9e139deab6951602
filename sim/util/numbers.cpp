#include "sim/util/numbers.hpp"

#include <cmath>
#include <cstdlib>
#include <string>

namespace moska {

DecimalParse parse_decimal(std::string_view s, double& out) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto digits = [&] {
    std::size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t int_digits = digits();
  std::size_t frac_digits = 0;
  if (i < n && s[i] == '.') {
    ++i;
    frac_digits = digits();
  }
  if (int_digits + frac_digits == 0) return DecimalParse::not_a_number;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return DecimalParse::not_a_number;
  }
  if (i != n) return DecimalParse::not_a_number;
  const std::string text(s);  // strtod needs a terminator
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return DecimalParse::not_a_number;
  if (!std::isfinite(v)) return DecimalParse::out_of_range;
  out = v;
  return DecimalParse::ok;
}

}  // namespace moska
