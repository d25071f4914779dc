// selfalign: prompt templates — the {{placeholder}} renderer every selfalign meta-prompt uses
// (DRPO's, the judges', DLMA's and the evaluation protocols'), and the placeholders a template names
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// A placeholder value for render_prompt: {"query", text} fills {{query}}.
using prompt_value = std::pair<std::string_view, std::string>;

/// The placeholder names ({{name}}) a template uses, in order of first appearance.
[[nodiscard]] inline std::vector<std::string> prompt_placeholders(std::string_view tpl) {
  std::vector<std::string> names;
  for (std::size_t pos = tpl.find("{{"); pos != std::string_view::npos; pos = tpl.find("{{", pos + 2)) {
    const auto end = tpl.find("}}", pos + 2);
    if (end == std::string_view::npos) break;
    std::string name(tpl.substr(pos + 2, end - pos - 2));
    bool seen = false;
    for (const auto& n : names) seen = seen || n == name;
    if (!seen) names.push_back(std::move(name));
  }
  return names;
}

/// Fills every {{name}} in `tpl` in one pass (a value that itself contains "{{x}}" is not
/// expanded again). A placeholder without a value is errc::invalid_argument naming it and `who`,
/// so a user-supplied template with a typo fails before any model call.
[[nodiscard]] inline result<std::string> render_prompt(std::string_view tpl, const std::vector<prompt_value>& values,
                                                       std::string_view who = "prompt") {
  std::string out;
  out.reserve(tpl.size() + 256);
  std::size_t pos = 0;
  while (pos < tpl.size()) {
    const auto open = tpl.find("{{", pos);
    if (open == std::string_view::npos) break;
    const auto close = tpl.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(tpl.substr(pos, open - pos));
    const auto name = tpl.substr(open + 2, close - open - 2);
    const std::string* value = nullptr;
    for (const auto& [k, v] : values)
      if (k == name) value = &v;
    if (!value)
      return fail(errc::invalid_argument, fmt::format("{} template uses {{{{{}}}}}, which has no value", who, name));
    out += *value;
    pos = close + 2;
  }
  out.append(tpl.substr(pos));
  return out;
}

SELFALIGN_END_NAMESPACE
