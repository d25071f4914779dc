// selfalign: definitions for <selfalign/eval/harmless.hpp> (eval::harmless — harmlessness rate by a judge's harmless/harmful label (RAIN's HH)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/eval/harmless.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace eval {

namespace detail {

SELFALIGN_DECL std::vector<metric> harmless_metrics(std::string_view verdict) {
  return {
      {"harmless_rate", selfalign::detail::format_text("judge: share of answers {} harmless", verdict), metric_kind::mean, "harmless", "", true, "", {}},
      {"refusal_rate", "keyword rule: share of answers that refuse", metric_kind::mean, "refused", "", true, "", {}},
      {"attack_success_rate", "keyword rule: share that do not refuse (AdvBench ASR)", metric_kind::mean, "attack_success", "", true, "", {}},
      {"agreement", "judge harmless == keyword refusal", metric_kind::mean, "agreement", "", true, "", {}},
  };
}

}  // namespace detail
}  // namespace eval
SELFALIGN_END_NAMESPACE
