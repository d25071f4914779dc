// selfalign: definitions for <selfalign/eval/run.hpp> (eval run settings and the loop shared by the judged protocols — chunked, concurrent)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/eval/run.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace eval {

namespace detail {

SELFALIGN_DECL std::optional<selfalign::error> template_error(std::string_view tpl, const std::vector<std::string>& names,
                                                                  std::string_view who) {
  std::vector<judges::prompt_value> values;
  for (const auto& n : names) values.emplace_back(n, std::string());
  auto r = judges::render_prompt(tpl, values, who);
  if (!r) return r.error();
  return std::nullopt;
}

SELFALIGN_DECL bool item_calls_succeeded(item_record& it, const std::optional<selfalign::error>& failed,
                                 std::optional<selfalign::error>& stop) {
  if (failed && failed->code == errc::context_overflow) {
    it.failure = "too long for the judge: " + failed->message;  // not a reason to stop
    return false;
  }
  if (failed) {
    if (!stop) stop = failed;
    return false;
  }
  return true;
}

SELFALIGN_DECL void finish_run(evaluation& ev, const std::optional<selfalign::error>& stop) {
  ev.failures = ev.unfinished = ev.evaluated = 0;
  for (auto& it : ev.items) {
    // An item may be evaluated in part (harmless: the keyword rule without a readable judge label).
    if (it.evaluated) ++ev.evaluated;
    if (!it.failure.empty() && it.failure != "unfinished") ++ev.failures;
    else if (!it.evaluated) {
      it.failure = "unfinished";
      ++ev.unfinished;
    }
    ev.judge_usage += it.judge_usage;
  }
  ev.status.complete = !stop;
  ev.status.error = stop;
  ev.status.stop_reason = stop ? stop->describe() : "completed";
  compute_metrics(ev);
}

}  // namespace detail
}  // namespace eval
SELFALIGN_END_NAMESPACE
