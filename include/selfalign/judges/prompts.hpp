// selfalign: the default texts of the aspect-selection and judging meta-prompts, and the
// {{placeholder}} renderer every selfalign meta-prompt uses
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace judges {

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

/// Aspect selection. Placeholders: {{aspect_list}}, {{query}}, {{min_aspects}}, {{max_aspects}},
/// {{guidance}}. Expects {"query_analysis": {...}, "aspects_selection": {"reasoning": ...,
/// "selected_aspects": [...]}}.
inline constexpr std::string_view default_selection_template =
    R"(You are an impartial evaluator deciding how an answer to a user's message should be judged. Pick the aspects that matter most for this particular message.

Aspects you may choose from:
{{aspect_list}}
If an essential quality is missing from the list, you may name a new aspect, but prefer the list.

<query>
{{query}}
</query>

Before choosing, think about:
1. The main subject of the message.
2. What the user actually wants to achieve.
3. Anything unclear or open to more than one reading.
4. The form a good answer should take (steps, a short reply, code, a refusal, ...).
5. What makes this message hard to answer well (risk of harm, need for current data, expertise, tone).
{{guidance}}
Choose between {{min_aspects}} and {{max_aspects}} aspects. Reply with JSON only, in this form:
{
  "query_analysis": {
    "main_topic": "...",
    "user_intent": "...",
    "ambiguities": "...",
    "response_format": "...",
    "challenges": "..."
  },
  "aspects_selection": {
    "reasoning": "why these aspects matter for this message",
    "selected_aspects": ["Aspect", "..."]
  }
})";

/// Judging. Placeholders: {{query}}, {{response}}, {{aspect_rubrics}}, {{guidance}},
/// {{json_skeleton}}. Expects {"Aspect": {"rationale": "...", "score": 1..5}, ...}.
inline constexpr std::string_view default_judge_template =
    R"(You are an impartial evaluator. Score the response below to the user's message on each listed aspect.

<query>
{{query}}
</query>

<response>
{{response}}
</response>

## Aspects and how to score them
<aspects>
{{aspect_rubrics}}
</aspects>
{{guidance}}
## Scale
Give each aspect a whole number from 1 to 5, where 1 means the statement "the response does well on this aspect" is strongly false, 3 means it is neither true nor false, and 5 means it is strongly true. Explain each score briefly before giving it. Judge only what the response says; do not reward length for its own sake.

Reply with JSON only, in this form:
{{json_skeleton}})";

}  // namespace judges
SELFALIGN_END_NAMESPACE
