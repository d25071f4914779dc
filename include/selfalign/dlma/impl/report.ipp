// selfalign: definitions for <selfalign/dlma/report.hpp> (DLMA results — scored preference pairs, failures, margin statistics, the run report)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/json_fields.hpp>
#include <selfalign/dlma/report.hpp>


SELFALIGN_BEGIN_NAMESPACE

namespace detail {
// The field tables of dlma::report and its parts (selfalign/detail/json_fields.hpp).
inline constexpr auto dlma_continuation_score_fields = json_fields(
    json_field("logprob", &dlma::continuation_score::logprob),
    json_field("tokens", &dlma::continuation_score::tokens),
    json_field("approximate", &dlma::continuation_score::approximate),
    json_field("boundary", &dlma::continuation_score::boundary),
    json_field("method", &dlma::continuation_score::method),
    json_field("merged", &dlma::continuation_score::merged),
    json_field("prompt_tokens", &dlma::continuation_score::prompt_tokens),
    json_field("scored_tokens", &dlma::continuation_score::scored_tokens));
inline constexpr auto dlma_preference_pair_fields = json_fields(
    json_field("index", &dlma::preference_pair::index),
    json_field("id", &dlma::preference_pair::id),
    json_field("query", &dlma::preference_pair::query),
    json_field("positive_answer", &dlma::preference_pair::positive_answer),
    json_field("negative_answer", &dlma::preference_pair::negative_answer),
    json_field("chosen", &dlma::preference_pair::chosen),
    json_field("rejected", &dlma::preference_pair::rejected),
    json_field("swapped", &dlma::preference_pair::swapped),
    json_field("reward_positive", &dlma::preference_pair::reward_positive),
    json_field("reward_negative", &dlma::preference_pair::reward_negative),
    json_field("self_reward", &dlma::preference_pair::self_reward),
    json_field("margin", &dlma::preference_pair::margin),
    json_field("clipped_margin", &dlma::preference_pair::clipped_margin),
    json_field("weight", &dlma::preference_pair::weight),
    json_field("target_margin", &dlma::preference_pair::target_margin),
    json_field("score_chosen", &dlma::preference_pair::score_chosen),
    json_field("score_rejected", &dlma::preference_pair::score_rejected),
    json_field("approximate", &dlma::preference_pair::approximate),
    json_field("boundary_merged", &dlma::preference_pair::boundary_merged),
    json_field("scores", &dlma::preference_pair::scores),  // indexed by score_slot
    json_field("boundary_positive", &dlma::preference_pair::boundary_positive),
    json_field("boundary_negative", &dlma::preference_pair::boundary_negative),
    json_field("seed_positive", &dlma::preference_pair::seed_positive),
    json_field("seed_negative", &dlma::preference_pair::seed_negative),
    json_field("finish_positive", &dlma::preference_pair::finish_positive),
    json_field("finish_negative", &dlma::preference_pair::finish_negative),
    json_field("model", &dlma::preference_pair::model));
inline constexpr auto dlma_pair_failure_fields = json_fields(
    json_field("index", &dlma::pair_failure::index),
    json_field("id", &dlma::pair_failure::id),
    json_field("stage", &dlma::pair_failure::stage),
    json_field("error", &dlma::pair_failure::error));
// Statistics of an empty set are NaN: written as null, and null leaves the default NaN.
inline constexpr auto dlma_margin_summary_fields = json_fields(
    json_field("count", &dlma::margin_summary::count),
    json_field("min", &dlma::margin_summary::min).null_unless_finite(),
    json_field("max", &dlma::margin_summary::max).null_unless_finite(),
    json_field("mean", &dlma::margin_summary::mean).null_unless_finite(),
    json_field("stddev", &dlma::margin_summary::stddev).null_unless_finite(),
    json_field("p05", &dlma::margin_summary::p05).null_unless_finite(),
    json_field("p25", &dlma::margin_summary::p25).null_unless_finite(),
    json_field("median", &dlma::margin_summary::median).null_unless_finite(),
    json_field("p75", &dlma::margin_summary::p75).null_unless_finite(),
    json_field("p95", &dlma::margin_summary::p95).null_unless_finite(),
    json_field("negative", &dlma::margin_summary::negative),
    json_field("negative_fraction", &dlma::margin_summary::negative_fraction).null_unless_finite(),
    json_field("clipped_low", &dlma::margin_summary::clipped_low),
    json_field("clipped_high", &dlma::margin_summary::clipped_high));
inline constexpr auto dlma_boundary_counts_fields = json_fields(
    json_field("generated_ids", &dlma::report::boundary_counts::generated_ids),
    json_field("joint_tokenization", &dlma::report::boundary_counts::joint_tokenization),
    json_field("server_text", &dlma::report::boundary_counts::server_text));
// Besides these, to_json writes the summary's counts ("pairs", "dropped", "failed", "unfinished")
// and the older "stop_reason" and "complete", which are not read back: they follow from the
// lists and from "status".
inline constexpr auto dlma_report_fields = json_fields(
    json_field("pair_list", &dlma::report::pairs),
    json_field("dropped_list", &dlma::report::dropped),
    json_field("unfinished_list", &dlma::report::unfinished),
    json_field("failures", &dlma::report::failures),
    json_field("queries", &dlma::report::queries),
    json_field("swapped", &dlma::report::swapped),
    json_field("approximate", &dlma::report::approximate),
    json_field("merged_boundary", &dlma::report::merged_boundary),
    json_field("truncated", &dlma::report::truncated),
    json_field("boundary", &dlma::report::boundary),
    json_field("boundary_methods", &dlma::report::boundary_methods),
    json_field("margins", &dlma::report::margins),
    json_field("usage", &dlma::report::usage),
    json_field("calls", &dlma::report::calls),
    json_field("cache_hits", &dlma::report::cache_hits),
    json_field("status", &dlma::report::status),
    json_field("run_usage", &dlma::report::run_usage));
}  // namespace detail

namespace dlma {

SELFALIGN_DECL double quantile_sorted(std::span<const double> sorted, double q) noexcept {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

SELFALIGN_DECL margin_summary summarize_margins(std::vector<double> r, double clip_min, double clip_max) {
  margin_summary s;
  s.count = r.size();
  if (r.empty()) return s;
  std::sort(r.begin(), r.end());
  double sum = 0.0;
  for (double v : r) {
    sum += v;
    if (v < 0.0) ++s.negative;
    if (v < clip_min) ++s.clipped_low;
    if (v > clip_max) ++s.clipped_high;
  }
  s.min = r.front();
  s.max = r.back();
  s.mean = sum / static_cast<double>(r.size());
  double sq = 0.0;
  for (double v : r) sq += (v - s.mean) * (v - s.mean);
  s.stddev = std::sqrt(sq / static_cast<double>(r.size()));
  s.p05 = quantile_sorted(r, 0.05);
  s.p25 = quantile_sorted(r, 0.25);
  s.median = quantile_sorted(r, 0.5);
  s.p75 = quantile_sorted(r, 0.75);
  s.p95 = quantile_sorted(r, 0.95);
  s.negative_fraction = static_cast<double>(s.negative) / static_cast<double>(r.size());
  return s;
}

SELFALIGN_DECL void to_json(nlohmann::json& j, boundary_mode m) { j = std::string(to_string(m)); }

SELFALIGN_DECL void from_json(const nlohmann::json& j, boundary_mode& m) {
  selfalign::detail::read_enum_name(j, m, {boundary_mode::automatic, boundary_mode::tokens, boundary_mode::text}, "boundary mode");
}

SELFALIGN_DECL void to_json(nlohmann::json& j, boundary_method m) { j = std::string(to_string(m)); }

SELFALIGN_DECL void from_json(const nlohmann::json& j, boundary_method& m) {
  selfalign::detail::read_enum_name(
      j, m, {boundary_method::generated_ids, boundary_method::joint_tokenization, boundary_method::server_text}, "boundary method");
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const continuation_score& s) {
  selfalign::detail::write_json_fields(j, s, selfalign::detail::dlma_continuation_score_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, continuation_score& s) {
  selfalign::detail::read_json_fields(j, s, selfalign::detail::dlma_continuation_score_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const preference_pair& p) {
  selfalign::detail::write_json_fields(j, p, selfalign::detail::dlma_preference_pair_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, preference_pair& p) {
  selfalign::detail::read_json_fields(j, p, selfalign::detail::dlma_preference_pair_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const pair_failure& f) {
  selfalign::detail::write_json_fields(j, f, selfalign::detail::dlma_pair_failure_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, pair_failure& f) {
  selfalign::detail::read_json_fields(j, f, selfalign::detail::dlma_pair_failure_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const margin_summary& s) {
  selfalign::detail::write_json_fields(j, s, selfalign::detail::dlma_margin_summary_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, margin_summary& s) {
  selfalign::detail::read_json_fields(j, s, selfalign::detail::dlma_margin_summary_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const report::boundary_counts& c) {
  selfalign::detail::write_json_fields(j, c, selfalign::detail::dlma_boundary_counts_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, report::boundary_counts& c) {
  selfalign::detail::read_json_fields(j, c, selfalign::detail::dlma_boundary_counts_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const report& r) {
  selfalign::detail::write_json_fields(j, r, selfalign::detail::dlma_report_fields);
  // The summary's counts and "complete": written for readers of the summary, not read back.
  j["pairs"] = r.pairs.size();
  j["dropped"] = r.dropped.size();
  j["failed"] = r.failures.size();
  j["unfinished"] = r.unfinished.size();
  j["complete"] = r.complete();
  j["stop_reason"] = r.status.stop_reason;  // the older name of status.stop_reason
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, report& r) {
  selfalign::detail::read_json_fields(j, r, selfalign::detail::dlma_report_fields);
  r.set_status(r.status);  // the older stop_reason and stop_code say what the status read says
}

SELFALIGN_DECL std::string to_json_text(const report& r, int indent) {
  return nlohmann::json(r).dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

SELFALIGN_DECL result<report> report_from_json_text(std::string_view text) {
  return parse_json_as<report>(text, "dlma report");
}

}  // namespace dlma
SELFALIGN_END_NAMESPACE
