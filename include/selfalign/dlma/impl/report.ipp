// selfalign: definitions for <selfalign/dlma/report.hpp> (DLMA results — scored preference pairs, failures, margin statistics, the run report)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/dlma/report.hpp>

SELFALIGN_BEGIN_NAMESPACE

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

SELFALIGN_DECL void to_json(nlohmann::json& j, const margin_summary& s) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  j = nlohmann::json::object();
  j["count"] = s.count;
  j["min"] = num(s.min);
  j["max"] = num(s.max);
  j["mean"] = num(s.mean);
  j["stddev"] = num(s.stddev);
  j["p05"] = num(s.p05);
  j["p25"] = num(s.p25);
  j["median"] = num(s.median);
  j["p75"] = num(s.p75);
  j["p95"] = num(s.p95);
  j["negative"] = s.negative;
  j["negative_fraction"] = num(s.negative_fraction);
  j["clipped_low"] = s.clipped_low;
  j["clipped_high"] = s.clipped_high;
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const report& r) {
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& f : r.failures)
    failures.push_back({{"index", f.index}, {"id", f.id}, {"stage", f.stage}, {"error", f.error}});
  j = {{"queries", r.queries},
       {"pairs", r.pairs.size()},
       {"dropped", r.dropped.size()},
       {"failed", r.failures.size()},
       {"unfinished", r.unfinished.size()},
       {"swapped", r.swapped},
       {"approximate", r.approximate},
       {"merged_boundary", r.merged_boundary},
       {"truncated", r.truncated},
       {"boundary", to_string(r.boundary)},
       {"boundary_methods", {{"generated_ids", r.boundary_methods.generated_ids},
                             {"joint_tokenization", r.boundary_methods.joint_tokenization},
                             {"server_text", r.boundary_methods.server_text}}},
       {"margins", r.margins},
       {"usage", r.usage},
       {"calls", r.calls},
       {"cache_hits", r.cache_hits},
       {"stop_reason", r.stop_reason},
       {"complete", r.complete()},
       {"status", r.status},
       {"run_usage", r.run_usage},
       {"failures", std::move(failures)}};
}

}  // namespace dlma
SELFALIGN_END_NAMESPACE
