// selfalign: definitions for <selfalign/drpo/report.hpp> (drpo::report — the artefacts (best prompt, optimized examples), the full trace,)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/drpo/report.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace drpo {

SELFALIGN_DECL void to_json(nlohmann::json& j, const icl_example& e) {
  j = nlohmann::json::object();
  j["query"] = e.query;
  j["answer"] = e.answer;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, icl_example& e) {
  selfalign::detail::get_if_present(j, "query", e.query);
  selfalign::detail::get_if_present(j, "answer", e.answer);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const evaluation& e) {
  j = nlohmann::json::object();
  j["aspects"] = e.aspects;
  j["selection_reasoning"] = e.selection_reasoning;
  j["selection_status"] = e.selection_status;
  j["verdict"] = e.verdict;
  j["reward"] = e.reward ? nlohmann::json(*e.reward) : nlohmann::json(nullptr);
  if (e.error) j["error"] = *e.error;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, evaluation& e) {
  selfalign::detail::get_if_present(j, "aspects", e.aspects);
  selfalign::detail::get_if_present(j, "selection_reasoning", e.selection_reasoning);
  selfalign::detail::get_if_present(j, "selection_status", e.selection_status);
  selfalign::detail::get_if_present(j, "verdict", e.verdict);
  selfalign::detail::get_if_present(j, "reward", e.reward);
  selfalign::detail::get_if_present(j, "error", e.error);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const candidate& c) {
  j = nlohmann::json::object();
  j["id"] = c.id;
  j["level"] = c.level;
  j["beam_index"] = c.beam_index;
  j["candidate_index"] = c.candidate_index;
  j["origin"] = c.origin;
  j["system_prompt"] = c.system_prompt;
  j["query_index"] = c.query_index;
  j["query"] = c.query;
  j["response"] = c.response;
  j["eval"] = c.eval;
  j["kept"] = c.kept;
  j["parent"] = c.parent ? nlohmann::json(*c.parent) : nlohmann::json(nullptr);
  j["path_score"] = c.path_score ? nlohmann::json(*c.path_score) : nlohmann::json(nullptr);
  j["reused_from"] = c.reused_from ? nlohmann::json(*c.reused_from) : nlohmann::json(nullptr);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, candidate& c) {
  selfalign::detail::get_if_present(j, "id", c.id);
  selfalign::detail::get_if_present(j, "parent", c.parent);
  selfalign::detail::get_if_present(j, "level", c.level);
  selfalign::detail::get_if_present(j, "beam_index", c.beam_index);
  selfalign::detail::get_if_present(j, "candidate_index", c.candidate_index);
  selfalign::detail::get_if_present(j, "origin", c.origin);
  selfalign::detail::get_if_present(j, "system_prompt", c.system_prompt);
  selfalign::detail::get_if_present(j, "query_index", c.query_index);
  selfalign::detail::get_if_present(j, "query", c.query);
  selfalign::detail::get_if_present(j, "response", c.response);
  selfalign::detail::get_if_present(j, "eval", c.eval);
  selfalign::detail::get_if_present(j, "path_score", c.path_score);
  selfalign::detail::get_if_present(j, "kept", c.kept);
  selfalign::detail::get_if_present(j, "reused_from", c.reused_from);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const rejected_proposal& r) {
  j = nlohmann::json::object();
  j["level"] = r.level;
  j["parent"] = r.parent;
  j["candidate_index"] = r.candidate_index;
  j["reason"] = r.reason;
  j["text"] = r.text;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, rejected_proposal& r) {
  selfalign::detail::get_if_present(j, "level", r.level);
  selfalign::detail::get_if_present(j, "parent", r.parent);
  selfalign::detail::get_if_present(j, "candidate_index", r.candidate_index);
  selfalign::detail::get_if_present(j, "reason", r.reason);
  selfalign::detail::get_if_present(j, "text", r.text);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const icl_round& r) {
  j = nlohmann::json::object();
  j["round"] = r.round;
  j["answer"] = r.answer;
  j["eval"] = r.eval;
  j["best"] = r.best;
  j["note"] = r.note;
  j["total"] = r.total ? nlohmann::json(*r.total) : nlohmann::json(nullptr);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, icl_round& r) {
  selfalign::detail::get_if_present(j, "round", r.round);
  selfalign::detail::get_if_present(j, "answer", r.answer);
  selfalign::detail::get_if_present(j, "eval", r.eval);
  selfalign::detail::get_if_present(j, "total", r.total);
  selfalign::detail::get_if_present(j, "best", r.best);
  selfalign::detail::get_if_present(j, "note", r.note);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const icl_trace& t) {
  j = nlohmann::json::object();
  j["index"] = t.index;
  j["query"] = t.query;
  j["seed_answer"] = t.seed_answer;
  j["best_answer"] = t.best_answer;
  j["rounds"] = t.rounds;
  j["stop_reason"] = t.stop_reason;
  j["best_total"] = t.best_total ? nlohmann::json(*t.best_total) : nlohmann::json(nullptr);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, icl_trace& t) {
  selfalign::detail::get_if_present(j, "index", t.index);
  selfalign::detail::get_if_present(j, "query", t.query);
  selfalign::detail::get_if_present(j, "seed_answer", t.seed_answer);
  selfalign::detail::get_if_present(j, "best_answer", t.best_answer);
  selfalign::detail::get_if_present(j, "best_total", t.best_total);
  selfalign::detail::get_if_present(j, "rounds", t.rounds);
  selfalign::detail::get_if_present(j, "stop_reason", t.stop_reason);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const report& r) {
  nlohmann::json stats = {{"levels", r.search.levels}, {"final_max_depth", r.search.final_max_depth},
                          {"depth_increases", r.search.depth_increases}, {"expansions", r.search.expansions},
                          {"evaluations", r.search.evaluations}};
  j = nlohmann::json::object();
  j["best_prompt"] = r.best_prompt;
  j["best_path"] = r.best_path;
  j["examples"] = r.examples;
  j["icl"] = r.icl;
  j["trace"] = r.trace;
  j["rejected"] = r.rejected;
  j["strategy"] = r.strategy;
  j["search"] = stats;
  j["status"] = r.status;
  j["run_usage"] = r.run_usage;
  j["usage_by_role"] = r.usage_by_role;
  j["total"] = r.total;
  j["cache_hits"] = r.cache_hits;
  j["stop_reason"] = r.stop_reason;
  j["complete"] = r.complete;
  j["wall_seconds"] = r.wall_seconds;
  j["seed"] = r.seed;
  j["base_answers"] = r.base_answers;
  j["base_answers_cut"] = r.base_answers_cut;
  j["best_score"] = r.best_score ? nlohmann::json(*r.best_score) : nlohmann::json(nullptr);
  j["error"] = r.error ? nlohmann::json(*r.error) : nlohmann::json(nullptr);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, report& r) {
  using selfalign::detail::get_if_present;
  get_if_present(j, "best_prompt", r.best_prompt);
  get_if_present(j, "best_score", r.best_score);
  get_if_present(j, "best_path", r.best_path);
  get_if_present(j, "examples", r.examples);
  get_if_present(j, "icl", r.icl);
  get_if_present(j, "trace", r.trace);
  get_if_present(j, "rejected", r.rejected);
  get_if_present(j, "strategy", r.strategy);
  if (auto it = j.find("search"); it != j.end() && it->is_object()) {
    get_if_present(*it, "levels", r.search.levels);
    get_if_present(*it, "final_max_depth", r.search.final_max_depth);
    get_if_present(*it, "depth_increases", r.search.depth_increases);
    get_if_present(*it, "expansions", r.search.expansions);
    get_if_present(*it, "evaluations", r.search.evaluations);
  }
  get_if_present(j, "status", r.status);
  get_if_present(j, "run_usage", r.run_usage);
  get_if_present(j, "usage_by_role", r.usage_by_role);
  get_if_present(j, "total", r.total);
  get_if_present(j, "cache_hits", r.cache_hits);
  get_if_present(j, "stop_reason", r.stop_reason);
  get_if_present(j, "complete", r.complete);
  get_if_present(j, "error", r.error);
  get_if_present(j, "wall_seconds", r.wall_seconds);
  get_if_present(j, "seed", r.seed);
  get_if_present(j, "base_answers", r.base_answers);
  get_if_present(j, "base_answers_cut", r.base_answers_cut);
  // A report written before `status` and `run_usage` existed: the same facts from the older fields.
  if (!j.contains("status")) r.status = r.complete ? run_status::completed() : run_status::from(r.error);
  if (!j.contains("run_usage")) r.run_usage = usage_summary{r.usage_by_role, r.total};
}

SELFALIGN_DECL bool operator==(const report& a, const report& b) { return nlohmann::json(a) == nlohmann::json(b); }

SELFALIGN_DECL std::string to_json_text(const report& r, int indent) {
  return nlohmann::json(r).dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

SELFALIGN_DECL result<report> report_from_json_text(std::string_view text) {
  return parse_json_as<report>(text, "drpo report");
}

}  // namespace drpo
SELFALIGN_END_NAMESPACE
