// selfalign: eval::evaluation — what every protocol returns: per-item records, metrics with
// confidence intervals, unreadable-judge counts and how the run ended; paired differences
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
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

  [[nodiscard]] const metric* find(std::string_view name) const {
    for (const auto& m : metrics)
      if (m.name == name) return &m;
    return nullptr;
  }
};

/// Computes every metric's estimate from the item values (seeded by `evaluation::bootstrap`).
inline void compute_metrics(evaluation& ev) {
  for (auto& m : ev.metrics) {
    std::vector<double> num, den;
    for (const auto& it : ev.items) {
      if (!it.evaluated) continue;
      const auto a = it.values.find(m.key);
      if (a == it.values.end()) continue;
      num.push_back(a->second);
      if (m.kind == metric_kind::ratio) {
        const auto b = it.values.find(m.denominator);
        den.push_back(b == it.values.end() ? 0.0 : b->second);
      }
    }
    m.value = m.kind == metric_kind::mean ? bootstrap_mean(num, ev.bootstrap) : bootstrap_ratio(num, den, ev.bootstrap);
  }
}

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
[[nodiscard]] inline result<std::vector<paired_metric>> paired_differences(const evaluation& system, const evaluation& baseline) {
  if (system.protocol != baseline.protocol)
    return fail(errc::invalid_argument, fmt::format("cannot pair a {} evaluation with a {} one", system.protocol, baseline.protocol));
  std::map<std::string, const item_record*> base_by_id;
  for (const auto& it : baseline.items) base_by_id[it.id] = &it;
  std::set<std::string> seen;
  for (const auto& it : system.items) {
    if (!base_by_id.count(it.id)) return fail(errc::invalid_argument, fmt::format("id \"{}\" has no baseline item", it.id));
    seen.insert(it.id);
  }
  for (const auto& it : baseline.items)
    if (!seen.count(it.id)) return fail(errc::invalid_argument, fmt::format("baseline id \"{}\" has no system item", it.id));
  std::vector<paired_metric> out;
  for (const auto& m : system.metrics) {
    if (m.kind != metric_kind::mean) continue;
    std::vector<double> a, b;
    for (const auto& it : system.items) {
      const item_record* o = base_by_id[it.id];
      if (!it.evaluated || !o->evaluated) continue;
      const auto x = it.values.find(m.key);
      const auto y = o->values.find(m.key);
      if (x == it.values.end() || y == o->values.end()) continue;
      a.push_back(x->second);
      b.push_back(y->second);
    }
    paired_metric p;
    p.name = m.name;
    p.system = bootstrap_mean(a, system.bootstrap);
    p.baseline = bootstrap_mean(b, system.bootstrap);
    auto d = paired_difference(a, b, system.bootstrap);
    if (d) p.difference = *d;
    out.push_back(std::move(p));
  }
  return out;
}

// --- JSON -------------------------------------------------------------------------------------

/// A number, or null when it is not finite (JSON has no NaN).
[[nodiscard]] inline nlohmann::json finite_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

[[nodiscard]] inline nlohmann::ordered_json estimate_to_json(const estimate& e) {
  return {{"value", finite_or_null(e.value)}, {"ci_low", finite_or_null(e.ci_low)}, {"ci_high", finite_or_null(e.ci_high)}, {"n", e.n}};
}

[[nodiscard]] inline nlohmann::ordered_json usage_to_json(const selfalign::usage& u) {
  return {{"prompt_tokens", u.prompt_tokens}, {"completion_tokens", u.completion_tokens}, {"requests", u.requests}, {"from_cache", u.from_cache}};
}

/// One item as a JSON line of `--out`.
[[nodiscard]] inline nlohmann::ordered_json item_to_json(const evaluation& ev, const item_record& it) {
  nlohmann::ordered_json j;
  j["id"] = it.id;
  j["protocol"] = ev.protocol;
  j["query"] = it.query;
  j["response"] = it.response;
  if (!it.baseline.empty()) j["baseline"] = it.baseline;
  j["evaluated"] = it.evaluated;
  if (!it.failure.empty()) j["failure"] = it.failure;
  nlohmann::ordered_json values = nlohmann::ordered_json::object();
  for (const auto& [k, v] : it.values) values[k] = finite_or_null(v);
  j["values"] = values;
  for (const auto& [k, v] : it.detail.items()) j[k] = v;
  j["judge_usage"] = usage_to_json(it.judge_usage);
  return j;
}

/// The summary document of `--summary` (without the caller's run fields: seed, versions).
[[nodiscard]] inline nlohmann::ordered_json summary_to_json(const evaluation& ev) {
  nlohmann::ordered_json j;
  j["protocol"] = ev.protocol;
  j["n"] = ev.evaluated;
  j["items"] = ev.items.size();
  j["failures"] = ev.failures;
  j["unfinished"] = ev.unfinished;
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
  for (const auto& m : ev.metrics) {
    nlohmann::ordered_json mj = estimate_to_json(m.value);
    mj["description"] = m.description;
    if (!m.group.empty()) mj["group"] = m.group;
    metrics[m.name] = mj;
  }
  j["metrics"] = metrics;
  j["counts"] = ev.counts;
  if (!ev.extra.empty()) j["details"] = ev.extra;
  j["bootstrap"] = {{"seed", ev.bootstrap.seed}, {"resamples", ev.bootstrap.resamples}, {"level", ev.bootstrap.level}};
  j["judge_model"] = ev.judge_model;
  j["judge_usage"] = usage_to_json(ev.judge_usage);
  j["complete"] = ev.status.complete;
  j["stop_reason"] = ev.status.stop_reason;
  if (ev.status.error) j["error"] = ev.status.error->describe();
  return j;
}

[[nodiscard]] inline nlohmann::ordered_json paired_to_json(const std::vector<paired_metric>& diffs) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& d : diffs)
    j[d.name] = {{"system", estimate_to_json(d.system)}, {"baseline", estimate_to_json(d.baseline)}, {"difference", estimate_to_json(d.difference)}};
  return j;
}

}  // namespace eval
SELFALIGN_END_NAMESPACE
