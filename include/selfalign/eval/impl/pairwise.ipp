// selfalign: definitions for <selfalign/eval/pairwise.hpp> (eval::pairwise — "is answer X better than answer Y for this query?", asked in both)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/eval/pairwise.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace eval {

namespace detail {

SELFALIGN_DECL std::vector<metric> pairwise_metrics() {
  return {
      {"win_rate", "wins / (wins + losses)", metric_kind::ratio, "win", "decided", true, "", {}},
      {"tie_share", "ties / evaluated pairs", metric_kind::mean, "tie", "", true, "", {}},
      {"win_share", "wins / evaluated pairs", metric_kind::mean, "win", "", true, "", {}},
      {"loss_share", "losses / evaluated pairs", metric_kind::mean, "loss", "", true, "", {}},
  };
}

SELFALIGN_DECL int order_vote(const std::string& verdict, bool system_is_a) {
  if (verdict == "tie") return 0;
  const bool a = verdict == "a";
  return a == system_is_a ? 1 : -1;
}

}  // namespace detail
}  // namespace eval
SELFALIGN_END_NAMESPACE
