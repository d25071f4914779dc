// selfalign: eval::evaluation — what every protocol returns: per-item records, metrics with
// confidence intervals, unreadable-judge counts and how the run ended; paired differences
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/eval/statistics.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace eval {

/// One answer to evaluate (rubric, harmless and truthful protocols).
struct answer_input {
  std::string id;
  std::string query;
  std::string response;
};

/// How a run ended; the shape every algorithm's report moves to (review-architecture §6.1).
struct run_status {
  bool complete = false;
  std::string stop_reason;  ///< "completed" | "<errc name>: <message>"
  std::optional<selfalign::error> error;
  [[nodiscard]] explicit operator bool() const noexcept { return complete; }
};

/// One evaluated item. `values` holds the item's contribution to each metric (1/0 for a label,
/// a score for a mean); it is empty when the item was not evaluated. `detail` holds what the
/// protocol saw (verdicts per order, scores, rationales, raw judge output).
struct item_record {
  std::size_t index = 0;  ///< position in the input
  std::string id;
  std::string query;
  std::string response;  ///< the answer evaluated (pairwise: the system's answer)
  std::string baseline;  ///< pairwise: the baseline's answer; preference: the rejected answer
  bool evaluated = false;
  /// Why the item was not evaluated: "unreadable: ..." (a judge failure, counted in
  /// evaluation::failures) or "unfinished" (the run stopped before it).
  std::string failure;
  std::map<std::string, double> values;
  nlohmann::json detail = nlohmann::json::object();
  selfalign::usage judge_usage;
};

/// How a metric aggregates item values.
enum class metric_kind {
  mean,   ///< mean of values[key] over items that have it
  ratio,  ///< sum(values[key]) / sum(values[denominator]) (a win rate)
};

/// A metric of a protocol: its definition and its estimate.
struct metric {
  std::string name;         ///< "win_rate", "harmless_rate", "Helpfulness", ...
  std::string description;  ///< one line for tables
  metric_kind kind = metric_kind::mean;
  std::string key;          ///< the item value aggregated (mean) or the numerator (ratio)
  std::string denominator;  ///< ratio only
  bool is_rate = true;      ///< a proportion in [0, 1] (else a score, e.g. 1-5)
  std::string group;        ///< "aspect" for rubric aspects (the per-aspect table)
  estimate value;
};

/// What a protocol returns.
struct evaluation {
  std::string protocol;  ///< "pairwise", "rubric", "harmless", "preference", "truthful"
  std::vector<item_record> items;
  std::vector<metric> metrics;
  std::map<std::string, std::size_t> counts;  ///< wins/ties/losses, labels, ... (evaluated items only)
  std::size_t evaluated = 0;
  /// Items whose judge output stayed unreadable (or did not fit the judge's context): excluded
  /// from the metrics, never guessed.
  std::size_t failures = 0;
  std::size_t unfinished = 0;  ///< items not reached because the run stopped
  nlohmann::json extra = nlohmann::json::object();  ///< protocol-specific summary (R distribution, rule)
  std::string judge_model;     ///< as the judge's answers reported it
  bootstrap_options bootstrap;
  selfalign::usage judge_usage;
  run_status status;

  [[nodiscard]] const metric* find(std::string_view name) const;
};

/// Computes every metric's estimate from the item values (seeded by `evaluation::bootstrap`).
SELFALIGN_DECL void compute_metrics(evaluation& ev);

/// The difference of one metric between two systems on the items both evaluated.
struct paired_metric {
  std::string name;
  estimate system;    ///< the metric on the matched items only
  estimate baseline;
  estimate difference;  ///< system - baseline, paired by item
};

/// Paired differences of every mean metric of `system` against `baseline` (same protocol),
/// matching items by id. Items either side did not evaluate are left out of that metric. An id
/// present in one evaluation and not the other is an error naming it.
[[nodiscard]] SELFALIGN_DECL result<std::vector<paired_metric>> paired_differences(const evaluation& system, const evaluation& baseline);

// --- JSON -------------------------------------------------------------------------------------

/// A number, or null when it is not finite (JSON has no NaN).
[[nodiscard]] SELFALIGN_DECL nlohmann::json finite_or_null(double x);

[[nodiscard]] SELFALIGN_DECL nlohmann::ordered_json estimate_to_json(const estimate& e);

[[nodiscard]] SELFALIGN_DECL nlohmann::ordered_json usage_to_json(const selfalign::usage& u);

/// One item as a JSON line of `--out`.
[[nodiscard]] SELFALIGN_DECL nlohmann::ordered_json item_to_json(const evaluation& ev, const item_record& it);

/// The summary document of `--summary` (without the caller's run fields: seed, versions).
[[nodiscard]] SELFALIGN_DECL nlohmann::ordered_json summary_to_json(const evaluation& ev);

[[nodiscard]] SELFALIGN_DECL nlohmann::ordered_json paired_to_json(const std::vector<paired_metric>& diffs);

}  // namespace eval
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/eval/impl/evaluation.ipp>
#endif
