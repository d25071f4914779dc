// selfalign: DRPO internals — the optimizer's side of the text: what it is shown of an evaluation,
// and how its answers (a new system prompt, a new in-context answer) are read back
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/aspect_json_text.hpp>
#include <selfalign/detail/lenient_json.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/drpo/report.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace drpo {
namespace detail {

// {"Aspect": {"rationale": ..., "score": n}} as the optimizer sees it ("{}" when unreadable, as the
// original), an integer score without a decimal point.
inline std::string evaluation_text(const evaluation& e) {
  std::vector<selfalign::detail::aspect_json_entry> entries;
  if (e.verdict.ok())
    for (const auto& c : e.verdict.criteria)
      entries.push_back({c.name, nlohmann::json(c.rationale).dump(),
                         c.score == std::floor(c.score) ? std::to_string(static_cast<long long>(c.score))
                                                        : nlohmann::json(c.score).dump()});
  return selfalign::detail::aspect_json_text(entries);
}

// Replaces the two characters '\' 'n' by a newline, as the original does with proposals.
inline std::string unescape_newlines(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Reads a JSON field from an optimizer output; nullopt with a reason when it cannot.
inline result<std::string> read_proposal(const std::string& raw, const char* field) {
  auto parsed = selfalign::detail::parse_lenient_json(raw);
  if (!parsed) return unexpected(parsed.error());
  if (!parsed->value.is_object() || !parsed->value.contains(field) || !parsed->value[field].is_string())
    return fail(errc::parse_failure, fmt::format("the optimizer output has no string \"{}\"", field));
  std::string text(selfalign::detail::trim(unescape_newlines(parsed->value[field].get<std::string>())));
  if (text.empty()) return fail(errc::parse_failure, fmt::format("the optimizer's \"{}\" is empty", field));
  return text;
}

// Strips a <START>/<END> wrapping an optimizer may have copied from the examples.
inline std::string unwrap_answer(std::string a) {
  std::string_view v = selfalign::detail::trim(a);
  if (selfalign::detail::starts_with(v, "<START>")) v.remove_prefix(7);
  if (selfalign::detail::ends_with(v, "<END>")) v.remove_suffix(5);
  return std::string(selfalign::detail::trim(v));
}

}  // namespace detail
}  // namespace drpo
SELFALIGN_END_NAMESPACE
