// selfalign: the default texts of the aspect-selection and judging meta-prompts
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/prompt_template.hpp>

#include <string_view>

SELFALIGN_BEGIN_NAMESPACE
namespace judges {

// The {{placeholder}} renderer now lives in <selfalign/prompt_template.hpp>, namespace selfalign;
// these names stay so that code written against judges:: still compiles.
using selfalign::prompt_placeholders;
using selfalign::prompt_value;
using selfalign::render_prompt;

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
