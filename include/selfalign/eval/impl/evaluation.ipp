// selfalign: definitions for <selfalign/eval/evaluation.hpp> (eval::evaluation — what every protocol returns: per-item records, metrics with)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/eval/evaluation.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace eval {

SELFALIGN_DECL const metric* evaluation::find(std::string_view name) const {
  for (const auto& m : metrics)
    if (m.name == name) return &m;
  return nullptr;
}

SELFALIGN_DECL void compute_metrics(evaluation& ev) {
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

SELFALIGN_DECL result<std::vector<paired_metric>> paired_differences(const evaluation& system, const evaluation& baseline) {
  if (system.protocol != baseline.protocol)
    return fail(errc::invalid_argument, selfalign::detail::format_text("cannot pair a {} evaluation with a {} one", system.protocol, baseline.protocol));
  std::map<std::string, const item_record*> base_by_id;
  for (const auto& it : baseline.items) base_by_id[it.id] = &it;
  std::set<std::string> seen;
  for (const auto& it : system.items) {
    if (!base_by_id.count(it.id)) return fail(errc::invalid_argument, selfalign::detail::format_text("id \"{}\" has no baseline item", it.id));
    seen.insert(it.id);
  }
  for (const auto& it : baseline.items)
    if (!seen.count(it.id)) return fail(errc::invalid_argument, selfalign::detail::format_text("baseline id \"{}\" has no system item", it.id));
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

SELFALIGN_DECL nlohmann::json finite_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

SELFALIGN_DECL nlohmann::ordered_json estimate_to_json(const estimate& e) {
  return {{"value", finite_or_null(e.value)}, {"ci_low", finite_or_null(e.ci_low)}, {"ci_high", finite_or_null(e.ci_high)}, {"n", e.n}};
}

SELFALIGN_DECL nlohmann::ordered_json usage_to_json(const selfalign::usage& u) {
  return {{"prompt_tokens", u.prompt_tokens}, {"completion_tokens", u.completion_tokens}, {"requests", u.requests}, {"from_cache", u.from_cache}};
}

SELFALIGN_DECL nlohmann::ordered_json item_to_json(const evaluation& ev, const item_record& it) {
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

SELFALIGN_DECL nlohmann::ordered_json summary_to_json(const evaluation& ev) {
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

SELFALIGN_DECL nlohmann::ordered_json paired_to_json(const std::vector<paired_metric>& diffs) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& d : diffs)
    j[d.name] = {{"system", estimate_to_json(d.system)}, {"baseline", estimate_to_json(d.baseline)}, {"difference", estimate_to_json(d.difference)}};
  return j;
}

}  // namespace eval
SELFALIGN_END_NAMESPACE
