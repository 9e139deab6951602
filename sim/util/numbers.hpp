#pragma once
// Numbers written as text by a person (flags, `--set` values): a strict decimal grammar, finite
// values only. "inf", "nan", hex floats, leading or trailing blanks and a trailing garbage are not
// numbers here (std::stod would take most of them).
#include <optional>
#include <string_view>

namespace moska {

enum class DecimalParse { ok, not_a_number, out_of_range };

// [+-]? digits [. digits] [(e|E) [+-]? digits], or with the integer part or the fraction empty
// (".5", "5."), but not both. On ok, out is the value (correctly rounded); out_of_range when the text
// is a number whose value is not a finite double (1e400).
DecimalParse parse_decimal(std::string_view text, double& out);

}  // namespace moska
