// selfalign: definitions for <selfalign/drpo/report.hpp> (drpo::report — the artefacts (best prompt, optimized examples), the full trace,)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/json_fields.hpp>
#include <selfalign/drpo/report.hpp>


SELFALIGN_BEGIN_NAMESPACE

namespace detail {
// The field tables of the report's parts (selfalign/detail/json_fields.hpp): each field once.
inline constexpr auto drpo_icl_example_fields = json_fields(
    json_field("query", &drpo::icl_example::query),
    json_field("answer", &drpo::icl_example::answer));
inline constexpr auto drpo_evaluation_fields = json_fields(
    json_field("aspects", &drpo::evaluation::aspects),
    json_field("selection_reasoning", &drpo::evaluation::selection_reasoning),
    json_field("selection_status", &drpo::evaluation::selection_status),
    json_field("verdict", &drpo::evaluation::verdict),
    json_field("reward", &drpo::evaluation::reward),
    json_field("error", &drpo::evaluation::error).omit_when_default());
inline constexpr auto drpo_candidate_fields = json_fields(
    json_field("id", &drpo::candidate::id),
    json_field("parent", &drpo::candidate::parent),
    json_field("level", &drpo::candidate::level),
    json_field("beam_index", &drpo::candidate::beam_index),
    json_field("candidate_index", &drpo::candidate::candidate_index),
    json_field("origin", &drpo::candidate::origin),
    json_field("system_prompt", &drpo::candidate::system_prompt),
    json_field("query_index", &drpo::candidate::query_index),
    json_field("query", &drpo::candidate::query),
    json_field("response", &drpo::candidate::response),
    json_field("eval", &drpo::candidate::eval),
    json_field("path_score", &drpo::candidate::path_score),
    json_field("kept", &drpo::candidate::kept),
    json_field("reused_from", &drpo::candidate::reused_from));
inline constexpr auto drpo_rejected_proposal_fields = json_fields(
    json_field("level", &drpo::rejected_proposal::level),
    json_field("parent", &drpo::rejected_proposal::parent),
    json_field("candidate_index", &drpo::rejected_proposal::candidate_index),
    json_field("reason", &drpo::rejected_proposal::reason),
    json_field("text", &drpo::rejected_proposal::text));
inline constexpr auto drpo_icl_round_fields = json_fields(
    json_field("round", &drpo::icl_round::round),
    json_field("answer", &drpo::icl_round::answer),
    json_field("eval", &drpo::icl_round::eval),
    json_field("total", &drpo::icl_round::total),
    json_field("best", &drpo::icl_round::best),
    json_field("note", &drpo::icl_round::note));
inline constexpr auto drpo_icl_trace_fields = json_fields(
    json_field("index", &drpo::icl_trace::index),
    json_field("query", &drpo::icl_trace::query),
    json_field("seed_answer", &drpo::icl_trace::seed_answer),
    json_field("best_answer", &drpo::icl_trace::best_answer),
    json_field("best_total", &drpo::icl_trace::best_total),
    json_field("rounds", &drpo::icl_trace::rounds),
    json_field("stop_reason", &drpo::icl_trace::stop_reason));
// The report's "search" object.
inline constexpr auto drpo_search_stats_fields = json_fields(
    json_field("levels", &search::search_stats::levels),
    json_field("final_max_depth", &search::search_stats::final_max_depth),
    json_field("depth_increases", &search::search_stats::depth_increases),
    json_field("expansions", &search::search_stats::expansions),
    json_field("evaluations", &search::search_stats::evaluations));
// Without "search" (the object above).
inline constexpr auto drpo_report_fields = json_fields(
    json_field("best_prompt", &drpo::report::best_prompt),
    json_field("best_score", &drpo::report::best_score),
    json_field("best_path", &drpo::report::best_path),
    json_field("examples", &drpo::report::examples),
    json_field("icl", &drpo::report::icl),
    json_field("trace", &drpo::report::trace),
    json_field("rejected", &drpo::report::rejected),
    json_field("strategy", &drpo::report::strategy),
    json_field("status", &drpo::report::status),
    json_field("run_usage", &drpo::report::run_usage),
    json_field("usage_by_role", &drpo::report::usage_by_role),
    json_field("total", &drpo::report::total),
    json_field("cache_hits", &drpo::report::cache_hits),
    json_field("stop_reason", &drpo::report::stop_reason),
    json_field("complete", &drpo::report::complete),
    json_field("error", &drpo::report::error),
    json_field("wall_seconds", &drpo::report::wall_seconds),
    json_field("seed", &drpo::report::seed),
    json_field("base_answers", &drpo::report::base_answers),
    json_field("base_answers_cut", &drpo::report::base_answers_cut));
}  // namespace detail

namespace drpo {

SELFALIGN_DECL void to_json(nlohmann::json& j, const icl_example& e) {
  selfalign::detail::write_json_fields(j, e, selfalign::detail::drpo_icl_example_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, icl_example& e) {
  selfalign::detail::read_json_fields(j, e, selfalign::detail::drpo_icl_example_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const evaluation& e) {
  selfalign::detail::write_json_fields(j, e, selfalign::detail::drpo_evaluation_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, evaluation& e) {
  selfalign::detail::read_json_fields(j, e, selfalign::detail::drpo_evaluation_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const candidate& c) {
  selfalign::detail::write_json_fields(j, c, selfalign::detail::drpo_candidate_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, candidate& c) {
  selfalign::detail::read_json_fields(j, c, selfalign::detail::drpo_candidate_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const rejected_proposal& r) {
  selfalign::detail::write_json_fields(j, r, selfalign::detail::drpo_rejected_proposal_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, rejected_proposal& r) {
  selfalign::detail::read_json_fields(j, r, selfalign::detail::drpo_rejected_proposal_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const icl_round& r) {
  selfalign::detail::write_json_fields(j, r, selfalign::detail::drpo_icl_round_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, icl_round& r) {
  selfalign::detail::read_json_fields(j, r, selfalign::detail::drpo_icl_round_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const icl_trace& t) {
  selfalign::detail::write_json_fields(j, t, selfalign::detail::drpo_icl_trace_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, icl_trace& t) {
  selfalign::detail::read_json_fields(j, t, selfalign::detail::drpo_icl_trace_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const report& r) {
  selfalign::detail::write_json_fields(j, r, selfalign::detail::drpo_report_fields);
  selfalign::detail::write_json_fields(j["search"], r.search, selfalign::detail::drpo_search_stats_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, report& r) {
  selfalign::detail::read_json_fields(j, r, selfalign::detail::drpo_report_fields);
  if (auto it = j.find("search"); it != j.end()) selfalign::detail::read_json_fields(*it, r.search, selfalign::detail::drpo_search_stats_fields);
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
