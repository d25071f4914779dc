// selfalign: definitions for <selfalign/rain/report.hpp> (rain::report and its statistics)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/json_fields.hpp>
#include <selfalign/rain/report.hpp>


SELFALIGN_BEGIN_NAMESPACE

namespace detail {
// The field tables of rain::report and its parts (selfalign/detail/json_fields.hpp).
inline constexpr auto rain_token_fields = json_fields(
    json_field("text", &rain::token::text),
    json_field("id", &rain::token::id).omit_when_default(),
    json_field("eos", &rain::token::eos).omit_when_default());
inline constexpr auto rain_step_stats_fields = json_fields(
    json_field("text", &rain::step_stats::text),
    json_field("tokens", &rain::step_stats::tokens),
    json_field("inner_iterations", &rain::step_stats::inner_iterations),
    json_field("reused_visits", &rain::step_stats::reused_visits),
    json_field("rewinds", &rain::step_stats::rewinds),
    json_field("failed_evaluations", &rain::step_stats::failed_evaluations),
    json_field("evaluation_failure", &rain::step_stats::evaluation_failure).omit_when_default(),
    json_field("requests", &rain::step_stats::requests),
    json_field("prompt_tokens", &rain::step_stats::prompt_tokens),
    json_field("completion_tokens", &rain::step_stats::completion_tokens));
// Speculation's two counters are written only when speculation ran (config::speculation_depth > 0).
[[nodiscard]] constexpr bool rain_speculated(const rain::statistics& s) noexcept { return s.speculative_leaves > 0; }
inline constexpr auto rain_statistics_fields = json_fields(
    json_field("outer_steps", &rain::statistics::outer_steps),
    json_field("inner_iterations", &rain::statistics::inner_iterations),
    json_field("rewinds", &rain::statistics::rewinds),
    json_field("nodes", &rain::statistics::nodes),
    json_field("dynamic_additions", &rain::statistics::dynamic_additions),
    json_field("requests", &rain::statistics::requests),
    json_field("prompt_tokens", &rain::statistics::prompt_tokens),
    json_field("completion_tokens", &rain::statistics::completion_tokens),
    json_field("rollouts", &rain::statistics::rollouts),
    json_field("evaluations", &rain::statistics::evaluations),
    json_field("evaluation_cache_hits", &rain::statistics::evaluation_cache_hits),
    json_field("failed_evaluations", &rain::statistics::failed_evaluations),
    json_field("distribution_cache_hits", &rain::statistics::distribution_cache_hits),
    json_field("speculative_leaves", &rain::statistics::speculative_leaves).written_if(rain_speculated),
    json_field("speculation_hits", &rain::statistics::speculation_hits).written_if(rain_speculated),
    json_field("embedding_calls", &rain::statistics::embedding_calls),
    json_field("response_tokens", &rain::statistics::response_tokens),
    json_field("wall_ms", &rain::statistics::wall_ms));
inline constexpr auto rain_report_fields = json_fields(
    json_field("response", &rain::report::response),
    json_field("tokens", &rain::report::tokens),
    json_field("stop_reason", &rain::report::stop_reason),
    json_field("stats", &rain::report::stats),
    json_field("steps", &rain::report::steps),
    json_field("error", &rain::report::error),
    json_field("status", &rain::report::status),
    json_field("run_usage", &rain::report::run_usage),
    json_field("tree", &rain::report::tree).omit_when_default());  // only with config.keep_tree
}  // namespace detail

namespace rain {

SELFALIGN_DECL void to_json(nlohmann::json& j, const token& t) {
  selfalign::detail::write_json_fields(j, t, selfalign::detail::rain_token_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, token& t) {
  selfalign::detail::read_json_fields(j, t, selfalign::detail::rain_token_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const step_stats& s) {
  selfalign::detail::write_json_fields(j, s, selfalign::detail::rain_step_stats_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, step_stats& s) {
  selfalign::detail::read_json_fields(j, s, selfalign::detail::rain_step_stats_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const statistics& s) {
  selfalign::detail::write_json_fields(j, s, selfalign::detail::rain_statistics_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, statistics& s) {
  selfalign::detail::read_json_fields(j, s, selfalign::detail::rain_statistics_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const report& r) {
  selfalign::detail::write_json_fields(j, r, selfalign::detail::rain_report_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, report& r) {
  selfalign::detail::read_json_fields(j, r, selfalign::detail::rain_report_fields);
}

SELFALIGN_DECL std::string to_json_text(const report& r, int indent) {
  return nlohmann::json(r).dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

SELFALIGN_DECL result<report> report_from_json_text(std::string_view text) {
  return parse_json_as<report>(text, "rain report");
}

}  // namespace rain
SELFALIGN_END_NAMESPACE
