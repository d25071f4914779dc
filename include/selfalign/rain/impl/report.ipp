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
  j = nlohmann::json::object();
  j["text"] = s.text;
  j["tokens"] = s.tokens;
  j["inner_iterations"] = s.inner_iterations;
  j["reused_visits"] = s.reused_visits;
  j["rewinds"] = s.rewinds;
  j["failed_evaluations"] = s.failed_evaluations;
  j["requests"] = s.requests;
  j["prompt_tokens"] = s.prompt_tokens;
  j["completion_tokens"] = s.completion_tokens;
  if (!s.evaluation_failure.empty()) j["evaluation_failure"] = s.evaluation_failure;
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const statistics& s) {
  j = nlohmann::json::object();
  j["outer_steps"] = s.outer_steps;
  j["inner_iterations"] = s.inner_iterations;
  j["rewinds"] = s.rewinds;
  j["nodes"] = s.nodes;
  j["dynamic_additions"] = s.dynamic_additions;
  j["requests"] = s.requests;
  j["prompt_tokens"] = s.prompt_tokens;
  j["completion_tokens"] = s.completion_tokens;
  j["rollouts"] = s.rollouts;
  j["evaluations"] = s.evaluations;
  j["evaluation_cache_hits"] = s.evaluation_cache_hits;
  j["failed_evaluations"] = s.failed_evaluations;
  j["distribution_cache_hits"] = s.distribution_cache_hits;
  j["embedding_calls"] = s.embedding_calls;
  j["response_tokens"] = s.response_tokens;
  j["wall_ms"] = s.wall_ms;
  if (s.speculative_leaves > 0) {  // only with config::speculation_depth > 0
    j["speculative_leaves"] = s.speculative_leaves;
    j["speculation_hits"] = s.speculation_hits;
  }
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const report& r) {
  j = nlohmann::json::object();
  j["response"] = r.response;
  j["stop_reason"] = r.stop_reason;
  j["stats"] = r.stats;
  j["steps"] = r.steps;
  j["error"] = r.error ? nlohmann::json(*r.error) : nlohmann::json(nullptr);
  j["status"] = r.status;
  j["run_usage"] = r.run_usage;
  if (!r.tree.is_null()) j["tree"] = r.tree;
}

}  // namespace rain
SELFALIGN_END_NAMESPACE
