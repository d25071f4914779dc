// selfalign: DRPO's meta-prompts in one place — aspect selection, judging, system-prompt
// optimization, answer optimization — all overridable (our own texts, paraphrasing the roles of
// the original prompts)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/judges/prompts.hpp>

#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace drpo {

/// System-prompt optimization (stage 2). Placeholders: {{current_system_prompt}}, {{query}},
/// {{output}}, {{evaluation}}, {{history}}, {{max_bullets}}, {{max_new_bullets}}.
/// Expects {"analysis": ..., "thought": ..., "new_system_prompt": ...}.
inline constexpr std::string_view default_prompt_optimizer_template =
    R"(You are improving the system prompt of an AI assistant. The assistant answered a user's message under the current system prompt, and an evaluator scored the answer. Write a better system prompt.

<current_system_prompt>
{{current_system_prompt}}
</current_system_prompt>

<query>
{{query}}
</query>

<output>
{{output}}
</output>

<evaluation>
{{evaluation}}
</evaluation>

Earlier versions of the system prompt, oldest first:
<history>
{{history}}
</history>

How to improve it:
1. Fix what the evaluation criticises, without losing what already scores well. Balance all aspects rather than chasing one.
2. Keep the prompt general: it must help with any user message, not only this one. Never mention this particular message.
3. Learn from the history: do not bring back wording that earlier versions already tried without success.

How the new prompt must look:
1. Start with one or two sentences of general instructions, then a bulleted list of principles.
2. Make sure the principles cover the assistant's limits: it has no internet access or real-time data, it cannot take physical actions, and it must decline harmful or malicious requests while staying helpful.
3. Include advice that keeps answers natural and engaging rather than robotic.
4. Use at most {{max_bullets}} bullets. Add at most {{max_new_bullets}} new bullets in this revision; prefer merging or sharpening existing bullets to deleting them.

Reply with JSON only:
{
  "analysis": "what the evaluation says is wrong or right, and why",
  "thought": "how the prompt should change",
  "new_system_prompt": "the complete new system prompt"
})";

/// Answer optimization (stage 1, in-context examples). Placeholders: {{query}}, {{answer}},
/// {{evaluation}}, {{max_bullets}}. Expects {"analysis": ..., "thought": ..., "new_response": ...}.
inline constexpr std::string_view default_answer_optimizer_template =
    R"(You are rewriting an example answer so that a demanding critic scores it as highly as possible. The answer will be shown to other models as an example of an excellent reply.

<query>
{{query}}
</query>

<answer>
{{answer}}
</answer>

<evaluation>
{{evaluation}}
</evaluation>

Rules for the new answer:
1. Address every weakness the critic names while keeping what it praises.
2. Structure the answer clearly; use at most {{max_bullets}} bullet points when a list helps.
3. If the request is harmful or malicious, decline plainly, say briefly why, and offer a safe alternative if there is one.
4. Prefer facts to speculation; say so when something is uncertain or beyond what you can know (no internet, no real-time data).
5. Give experts real depth; keep simple questions simple.
6. Do not mention the company or model that produced you.
7. Write naturally, as a knowledgeable person would.

Reply with JSON only:
{
  "analysis": "what the critic objects to",
  "thought": "how to fix it",
  "new_response": "the complete new answer"
})";

/// Guidance added to aspect selection in stage 1 (the original uses a harsher "critic" persona there).
inline constexpr std::string_view default_icl_selection_note =
    "Act as a demanding critic: these answers will serve as examples of excellent replies, so choose the aspects on "
    "which a reply to this message is most likely to fall short.";

/// Guidance added to judging in stage 1.
inline constexpr std::string_view default_icl_judge_note =
    "Act as a demanding critic: deduct points for every weakness, including structure and organisation. Extra length "
    "is fine when it adds real value.";

/// Every meta-prompt DRPO uses. `selection` and `judge` configure the selector and judge that
/// drpo::make_selector / drpo::make_judge build; a selector or judge you construct yourself uses
/// its own options.
struct prompt_set {
  std::string selection = std::string(judges::default_selection_template);
  std::string judge = std::string(judges::default_judge_template);
  std::string optimize_prompt = std::string(default_prompt_optimizer_template);
  std::string optimize_answer = std::string(default_answer_optimizer_template);
  std::string icl_selection_note = std::string(default_icl_selection_note);
  std::string icl_judge_note = std::string(default_icl_judge_note);
};

/// The placeholders each template of a prompt_set must be able to fill, by template name.
[[nodiscard]] inline std::vector<std::pair<std::string, std::vector<std::string>>> prompt_placeholder_sets() {
  return {
      {"selection", {"aspect_list", "query", "min_aspects", "max_aspects", "guidance"}},
      {"judge", {"query", "response", "aspect_rubrics", "guidance", "json_skeleton"}},
      {"optimize_prompt", {"current_system_prompt", "query", "output", "evaluation", "history", "max_bullets", "max_new_bullets"}},
      {"optimize_answer", {"query", "answer", "evaluation", "max_bullets"}},
  };
}

}  // namespace drpo
SELFALIGN_END_NAMESPACE
