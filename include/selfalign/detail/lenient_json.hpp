// selfalign: lenient JSON extraction from model output (code fences, prose, trailing commas)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/json_read.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// A JSON value read from model output, and whether any repair was needed to read it.
struct lenient_json {
  nlohmann::json value;
  bool repaired = false;            ///< true unless the whole text parsed strictly as it was
  std::vector<std::string> repairs; ///< what was done ("code fence", "surrounding prose", ...)
};

namespace lenient {

// The body of the first ``` fence (the language tag line dropped), if the text has one.
SELFALIGN_DECL std::optional<std::string_view> fenced_body(std::string_view text);

// The first balanced {...} (or [...]) span, string-aware; nullopt when none closes.
SELFALIGN_DECL std::optional<std::string_view> balanced_span(std::string_view text);

// Drops commas that precede a closing bracket and escapes raw control characters inside strings
// (Python's json.loads(strict=False), which the original code uses, accepts them).
SELFALIGN_DECL std::string clean(std::string_view text, bool& changed);

// Model output is untrusted: the depth-capped reader, which also reads NaN/Infinity as null.
SELFALIGN_DECL std::optional<nlohmann::json> try_parse(std::string_view text);

}  // namespace lenient

/// Reads the JSON object (or array) a model wrote, tolerating what models do: a ```json fence,
/// prose before and after, trailing commas, raw newlines inside strings. Returns
/// errc::parse_failure (quoting the start of the text) when nothing readable is found.
[[nodiscard]] SELFALIGN_DECL result<lenient_json> parse_lenient_json(std::string_view text);

/// A score read from model output, or why it could not be read (`problem` completes the
/// sentence "the score ...").
struct lenient_score {
  std::optional<double> value;
  std::string problem;
  bool repaired = false;  ///< not written as a plain JSON number
};

namespace lenient {

// Skips blanks in `s` from `i`.
SELFALIGN_DECL std::size_t skip_blanks(std::string_view s, std::size_t i);

// Whether `s` continues at `i` with `word`, ignoring ASCII case.
SELFALIGN_DECL bool continues_with(std::string_view s, std::size_t i, std::string_view word);

}  // namespace lenient

/// Reads a score on the scale [lo, hi] that a model may have written as a number, "4", "4.0",
/// "Score: 4", "4 (good)", ["4"], or with a denominator: "4/5", "4 out of 5". A denominator other
/// than `hi` ("4/10") is a score on another scale: it is refused, never read as its numerator.
/// Two numbers without a denominator ("3 or 4") are refused too. The range itself is the
/// caller's to check.
[[nodiscard]] SELFALIGN_DECL lenient_score read_lenient_score(const nlohmann::json& v, double lo, double hi);

/// Reads a score that a model may have written as a number, "4", "4.0", "Score: 4" or ["4"];
/// with `out_of`, also "4/5" and "4 out of 5" when the denominator is `out_of` (any other
/// denominator, or any denominator without `out_of`, is unreadable). Sets `repaired` when it was
/// not a plain number. nullopt when unreadable.
[[nodiscard]] SELFALIGN_DECL std::optional<double> lenient_number(const nlohmann::json& v, bool& repaired,
                                                         std::optional<double> out_of = std::nullopt);

}  // namespace detail
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/detail/impl/lenient_json.ipp>
#endif
