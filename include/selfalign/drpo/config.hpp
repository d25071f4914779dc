// selfalign: drpo::config — every DRPO setting with its default and where the default comes from
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/drpo/layout.hpp>
#include <selfalign/drpo/prompts.hpp>
#include <selfalign/events.hpp>
#include <selfalign/judges/aspects.hpp>
#include <selfalign/judges/score_aggregation.hpp>
#include <selfalign/prompt_template.hpp>
#include <selfalign/result.hpp>
#include <selfalign/search/common.hpp>
#include <selfalign/types.hpp>
#include <selfalign/usage.hpp>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace drpo {

// Source tags used below: [C] the official code (Singla17/DRPO, maitrix-org/llm-reasoners
// examples/DRPO); [D] derived from that code; [ours] a selfalign choice (documented deviation).

namespace detail {
inline sampling make_sampling(double temperature, double top_p, int max_tokens, std::vector<std::string> stop = {}) {
  sampling s;
  s.temperature = temperature;
  s.top_p = top_p;
  s.max_tokens = max_tokens;
  s.stop = std::move(stop);
  return s;
}
}  // namespace detail

/// Everything a DRPO run can be told.
struct config {
  std::uint64_t seed = 0;  ///< [ours] run seed; every call's seed is derived from it and the call's identity

  // ---- stage 2: system-prompt search -------------------------------------------------------
  std::string initial_system_prompt = "You are a helpful assistant.";  ///< [C] sigma_0
  std::size_t beam_width = 2;             ///< [C] prompt_train.sh beam_size
  std::size_t actions_per_expansion = 3;  ///< [C] n_actions: one optimizer request with n = 3
  std::size_t depth = 20;                 ///< [C] run.py depth: prompts on a path, the initial one included
  std::size_t max_depth_increase = 10;    ///< [C] beam_search.py: +1 per level on a skip, at most 10
  double skip_threshold = 4.5;            ///< [C] skip when all scores are 5 or the mean is above this
  std::size_t history = 5;                ///< [C] last 5 prompts shown to the optimizer
  std::size_t max_training_queries = 180; ///< [C] num_training_examples (at most depth + increase are used [D])
  /// [C] mean when beam_width > 1, last when 1 (search strategies built by drpo use this).
  search::reward_aggregation aggregation = search::reward_aggregation::automatic;
  /// [ours] false (default): the economical search — a level's candidates are evaluated parent by
  /// parent (the best parent first) and a parent's candidates that could not enter the beam even
  /// with a perfect reward are not evaluated; an identical (prompt, query) pair or (query, answer)
  /// pair is evaluated once per run; the search stops once the best prompt has been carried
  /// forward `converged_levels` levels in a row. The beam it keeps at each level is the original's
  /// for the candidates it has. true [C]: the original's procedure, every candidate evaluated.
  bool reproduce_original_search = false;
  /// [ours] with the economical search: stop once the beam's best state has been carried forward
  /// (its prompt scored above skip_threshold) this many levels in a row and would be carried again;
  /// 0: run to the depth budget.
  std::size_t converged_levels = 3;
  /// [ours] true: identical candidate prompts at a level are evaluated once (the first kept, the
  /// others listed as rejected). The original evaluates duplicates (action_dedup=False): set false.
  bool dedup_candidates = true;
  /// [ours] nullopt: an unreadable judgement gives no reward (path means skip it, the report says
  /// failed). The original counts it as 0: set 0.0 to reproduce.
  std::optional<double> failed_parse_reward;
  /// [ours] requested_mean: the reward is the mean of the selected aspects' scores as written.
  /// official [C]: the mean over every aspect the judge returned, each truncated like Python's
  /// int() (drpo::make_judge passes this to the judge; docs/drpo.md compares the two).
  judges::score_aggregation score_aggregation = judges::score_aggregation::requested_mean;
  int optimizer_parse_retries = 1;  ///< [ours] re-ask the optimizer when none of its outputs is readable
  double optimizer_retry_temperature = 0.7;  ///< [ours] used for those re-asks
  std::size_t max_bullets = 8;      ///< [C] in the optimizer prompt: at most 8 bullets
  std::size_t max_new_bullets = 2;  ///< [C] at most 2 bullets added per step
  int min_aspects = 2;              ///< [C] aspects per query, prompt stage: 2..5
  int max_aspects = 5;

  sampling optimizer_sampling = detail::make_sampling(0.2, 0.95, 2048);  ///< [C] T 0.2, top_p 0.95, max 2048 (n = actions)
  /// [C] T 0, top_p 1, max 2048, stop <END>, <END, <|eot_id|>.
  sampling base_sampling = detail::make_sampling(0.0, 1.0, 2048, {"<END>", "<END", "<|eot_id|>"});
  /// [C] most tokens of a judge answer (aspect selection and scoring; the original asks 2048).
  int judge_max_tokens = 2048;
  std::string base_model;       ///< request model name for the base model (empty: backend default)
  std::string optimizer_model;  ///< request model name for the optimizer

  // ---- prompt layout and in-context examples -----------------------------------------------
  /// [ours] one layout for optimization and deployment (chat form, consistent headers).
  layout_options layout;
  std::size_t icl_k = 2;             ///< [C] examples retrieved per query during optimization
  std::size_t icl_k_inference = 2;   ///< [ours] = icl_k for consistency; the original README deploys with 3
  /// [C] reproduce the original's mismatch: optimize with raw text ("#Query" spacing, k = icl_k)
  /// and deploy with chat messages (k = 3). Default false [ours].
  bool reproduce_layout_mismatch = false;
  std::string embedding_model;  ///< request model name for the embedder

  // ---- stage 1: in-context example optimization ----------------------------------------------
  std::size_t icl_rounds = 5;  ///< [C] num_iters: revisions per example
  sampling icl_optimizer_sampling = detail::make_sampling(0.0, 1.0, 2048);  ///< [C] T 0, top_p 1, n 1
  /// [C] true: each revision starts from the latest answer (as the code does); false: from the best so far.
  bool icl_revise_from_latest = true;
  /// [ours] skip the revisions of a seed answer that already scores perfectly (the original makes one
  /// revision before noticing).
  bool icl_skip_perfect_seed = true;
  int icl_min_aspects = 3;  ///< [C] ICL stage: 3..6 aspects
  int icl_max_aspects = 6;
  std::size_t icl_max_bullets = 6;  ///< [C] answer optimizer: at most 6 bullets
  double max_score = 5.0;           ///< [C] a perfect aspect score

  // ---- prompts, running, accounting ------------------------------------------------------
  prompt_set prompts;
  /// [ours] rubrics sent with each criterion (and used by drpo::make_selector / make_judge); the
  /// paper's 14 aspects with our texts. Unknown aspect names get a generic rubric.
  judges::aspect_catalogue catalogue = judges::default_aspects();
  std::size_t max_concurrency = 8;  ///< [ours] calls in flight per batch (1: sequential)
  std::stop_token stop_token;       ///< [ours] request a stop: the run ends with a partial report
  std::stop_token stop;             ///< the older name of stop_token (kept for one release; used when stop_token is unset)
  observer on_event;                ///< [ours] progress events (source "drpo")
  price_table prices;               ///< [ours] for cost per role
  std::map<std::string, std::string> role_models;  ///< [ours] model name per role for pricing ("base", "judge", ...)
};

/// Checks a config before any call: errc::invalid_argument naming the field. optimize() and
/// optimize_examples() call it first; rain::validate and dlma::validate have the same shape.
[[nodiscard]] inline result<void> validate(const config& cfg) {
  if (cfg.beam_width == 0) return fail(errc::invalid_argument, "drpo::config::beam_width must be at least 1");
  if (cfg.actions_per_expansion == 0) return fail(errc::invalid_argument, "drpo::config::actions_per_expansion must be at least 1");
  if (cfg.depth == 0) return fail(errc::invalid_argument, "drpo::config::depth must be at least 1");
  if (cfg.min_aspects > cfg.max_aspects || cfg.icl_min_aspects > cfg.icl_max_aspects)
    return fail(errc::invalid_argument, "drpo::config: min_aspects is above max_aspects");
  if (cfg.judge_max_tokens < 1) return fail(errc::invalid_argument, "drpo::config::judge_max_tokens must be at least 1");
  for (const auto& [name, placeholders] : prompt_placeholder_sets()) {
    const std::string& tpl = name == "selection" ? cfg.prompts.selection
                             : name == "judge"   ? cfg.prompts.judge
                             : name == "optimize_prompt" ? cfg.prompts.optimize_prompt
                                                         : cfg.prompts.optimize_answer;
    std::vector<prompt_value> values;
    for (const auto& p : placeholders) values.emplace_back(p, "x");
    if (auto r = render_prompt(tpl, values, "drpo::config::prompts." + name); !r) return unexpected(r.error());
  }
  return {};
}

namespace detail {
/// Renders one of config::prompts' templates with the placeholders validate() checked it against,
/// so in a validated run it cannot fail; the assertion states that invariant (an unchecked template
/// would otherwise become an empty prompt).
[[nodiscard]] inline std::string render_validated(std::string_view tpl, const std::vector<prompt_value>& values) {
  result<std::string> text = render_prompt(tpl, values);
  assert(text.has_value() && "drpo: a template that validate() accepted failed to render");
  return text ? std::move(*text) : std::string();
}
}  // namespace detail

}  // namespace drpo
SELFALIGN_END_NAMESPACE
