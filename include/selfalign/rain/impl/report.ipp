// selfalign: definitions for <selfalign/rain/report.hpp> (rain::input, rain::report and its statistics)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/rain/report.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace rain {

SELFALIGN_DECL input input::with_context(std::string query, std::string context) {
  input i(std::move(query));
  i.context = std::move(context);
  return i;
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const step_stats& s) {
  j = {{"text", s.text}, {"tokens", s.tokens}, {"inner_iterations", s.inner_iterations},
       {"reused_visits", s.reused_visits}, {"rewinds", s.rewinds}, {"failed_evaluations", s.failed_evaluations},
       {"requests", s.requests},
       {"prompt_tokens", s.prompt_tokens}, {"completion_tokens", s.completion_tokens}};
  if (!s.evaluation_failure.empty()) j["evaluation_failure"] = s.evaluation_failure;
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const statistics& s) {
  j = {{"outer_steps", s.outer_steps}, {"inner_iterations", s.inner_iterations}, {"rewinds", s.rewinds},
       {"nodes", s.nodes}, {"dynamic_additions", s.dynamic_additions}, {"requests", s.requests},
       {"prompt_tokens", s.prompt_tokens}, {"completion_tokens", s.completion_tokens},
       {"rollouts", s.rollouts}, {"evaluations", s.evaluations},
       {"evaluation_cache_hits", s.evaluation_cache_hits}, {"failed_evaluations", s.failed_evaluations},
       {"distribution_cache_hits", s.distribution_cache_hits},
       {"embedding_calls", s.embedding_calls}, {"response_tokens", s.response_tokens}, {"wall_ms", s.wall_ms}};
  if (s.speculative_leaves > 0) {  // only with config::speculation_depth > 0
    j["speculative_leaves"] = s.speculative_leaves;
    j["speculation_hits"] = s.speculation_hits;
  }
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const report& r) {
  j = {{"response", r.response}, {"stop_reason", r.stop_reason}, {"stats", r.stats}, {"steps", r.steps}};
  j["error"] = r.error ? nlohmann::json(*r.error) : nlohmann::json(nullptr);
  j["status"] = r.status;
  j["run_usage"] = r.run_usage;
  if (!r.tree.is_null()) j["tree"] = r.tree;
}

}  // namespace rain
SELFALIGN_END_NAMESPACE
