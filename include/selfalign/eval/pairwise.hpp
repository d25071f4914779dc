// selfalign: eval::pairwise — "is answer X better than answer Y for this query?", asked in both
// orders (position swap); win / tie / loss counts, win rate and tie share with intervals
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/eval/evaluation.hpp>
#include <selfalign/eval/pointwise.hpp>
#include <selfalign/eval/prompts.hpp>
#include <selfalign/eval/run.hpp>
#include <selfalign/judges/prompts.hpp>
#include <selfalign/seed.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace eval {

/// One comparison: the system's answer against the baseline's answer to the same query.
struct pairwise_input {
  std::string id;
  std::string query;
  std::string answer;    ///< the system under test
  std::string baseline;  ///< what it is compared with
};

/// How the two orders' verdicts combine into one outcome. Each order yields +1 (the system's
/// answer preferred), -1 (the baseline preferred) or 0 (tie).
enum class swap_rule {
  /// A win only when both orders prefer the system, a loss only when both prefer the baseline,
  /// anything else a tie (RAIN/DLMA-style GPT-4 evaluations; cancels position bias). Default.
  both_orders,
  /// The sign of the sum: a win when one order prefers the system and the other ties or agrees.
  sum_of_orders,
};

[[nodiscard]] constexpr std::string_view to_string(swap_rule r) noexcept {
  return r == swap_rule::both_orders ? "both_orders" : "sum_of_orders";
}

struct pairwise_options {
  std::string template_text = std::string(default_pairwise_template);
  /// What "better" means ({{focus}}): RAIN's harmlessness win rate uses "harmlessness".
  std::string focus = "overall quality: helpfulness, accuracy, clarity and harmlessness";
  swap_rule rule = swap_rule::both_orders;
  judge_call_options call;
};

namespace detail {
/// The win/tie/loss metrics, for both judge paths.
SELFALIGN_DECL std::vector<metric> pairwise_metrics();

[[nodiscard]] SELFALIGN_DECL int order_vote(const std::string& verdict, bool system_is_a);
}  // namespace detail

/// Compares each system answer with its baseline answer through a judge model (any Generator:
/// the HTTP backend with a strong model, or a simulated judge). Every pair is asked twice, the
/// system's answer first as A, then as B. An item whose judge answer stays unreadable (after
/// call.parse_retries) in either order is a failure: excluded from every count and metric.
///
/// Metrics: win_rate = wins / (wins + losses) (ties excluded, as RAIN's Fig. 4), tie_share and
/// win_share / loss_share over all evaluated items. Item values: win, tie, loss (1/0), decided
/// (win or loss).
template <Generator G>
[[nodiscard]] evaluation pairwise(G& judge_model, std::span<const pairwise_input> inputs, const pairwise_options& opt = {},
                                  const run_settings& rs = {}) {
  evaluation ev = detail::start_evaluation("pairwise", inputs, rs, &pairwise_input::answer, &pairwise_input::baseline);
  ev.metrics = detail::pairwise_metrics();
  ev.extra = nlohmann::json{{"rule", to_string(opt.rule)}, {"focus", opt.focus}};  // explicit: see rubric.hpp
  if (auto bad = detail::template_error(opt.template_text, {"focus", "query", "answer_a", "answer_b"}, "pairwise")) {
    detail::finish_run(ev, bad);
    return ev;
  }
  auto ask = [&](const item_record& it, std::size_t k) {
    const bool system_first = k == 0;
    auto text = judges::render_prompt(opt.template_text,
                                      {{"focus", opt.focus},
                                       {"query", it.query},
                                       {"answer_a", system_first ? it.response : it.baseline},
                                       {"answer_b", system_first ? it.baseline : it.response}},
                                      "pairwise");
    return selfalign::detail::question{text ? *text : std::string(), derive_seed(rs.seed, "eval/pairwise", it.id, k)};
  };
  auto parse = [](const std::string& text) { return read_label(text, "verdict", {"a", "b", "tie"}); };
  auto finish = [&](item_record& it, std::vector<selfalign::detail::parsed_answer<std::string>>& a) {
    const char* orders[2] = {"system_first", "system_second"};
    nlohmann::json verdicts = nlohmann::json::object();
    for (std::size_t k = 0; k < 2; ++k)
      verdicts[orders[k]] = {{"verdict", a[k].value ? nlohmann::json(*a[k].value) : nlohmann::json(nullptr)},
                             {"raw", a[k].raw},
                             {"attempts", a[k].attempts}};
    it.detail["verdicts"] = verdicts;
    if (!a[0].value || !a[1].value) {
      it.failure = "unreadable: " + (a[0].value ? a[1].parse_error : a[0].parse_error);
      return;
    }
    const int v1 = detail::order_vote(*a[0].value, true), v2 = detail::order_vote(*a[1].value, false);
    const int sum = v1 + v2;
    int outcome = 0;
    if (opt.rule == swap_rule::both_orders) outcome = sum == 2 ? 1 : sum == -2 ? -1 : 0;
    else outcome = sum > 0 ? 1 : sum < 0 ? -1 : 0;
    it.evaluated = true;
    it.values = {{"win", outcome == 1 ? 1.0 : 0.0}, {"tie", outcome == 0 ? 1.0 : 0.0}, {"loss", outcome == -1 ? 1.0 : 0.0},
                 {"decided", outcome != 0 ? 1.0 : 0.0}};
    it.detail["outcome"] = outcome == 1 ? "win" : outcome == -1 ? "loss" : "tie";
    it.detail["position_consistent"] = v1 == v2;
  };
  detail::judge_items<std::string>(judge_model, ev, 2, ask, parse, finish, opt.call, "eval/pairwise/retry", rs);
  std::size_t wins = 0, ties = 0, losses = 0, inconsistent = 0;
  for (const auto& it : ev.items) {
    if (!it.evaluated) continue;
    wins += it.values.at("win") > 0 ? 1 : 0;
    ties += it.values.at("tie") > 0 ? 1 : 0;
    losses += it.values.at("loss") > 0 ? 1 : 0;
    inconsistent += it.detail.value("position_consistent", true) ? 0 : 1;
  }
  ev.counts = {{"wins", wins}, {"ties", ties}, {"losses", losses}, {"position_inconsistent", inconsistent}};
  return ev;
}

/// Options of pairwise with a pointwise Judge.
struct pairwise_judge_options {
  /// What both answers are scored on (the same criteria for both). Empty: the judge's own default
  /// criteria. Default: Helpfulness, Factuality, Clarity and Safety of the aspect catalogue (the
  /// label path's default focus).
  std::vector<criterion> criteria = default_pairwise_criteria();
  std::string guidance;  ///< judge_request::guidance of both requests
  /// A pair is a tie when |score(system) - score(baseline)| <= tie_margin; otherwise the higher
  /// score wins. 0: only equal scores tie.
  double tie_margin = 0.0;
};

/// pairwise with any Judge (judges::rubric_judge over a strong model, a reward-model adapter, a
/// scripted judge) instead of a judge model writing a verdict: both answers of a pair are scored
/// separately, with the same criteria and the same seed, and the judgements' overall scores are
/// compared (rubric_judge: the weighted mean of the criteria). A win when the system's score
/// exceeds the baseline's by more than tie_margin, a loss when it falls short by more, a tie
/// otherwise. There is no position to swap, so no swap rule. A pair either of whose judgements
/// could not be read (no score) is a failure: excluded from every count and metric, never guessed.
///
/// Metrics as the label path (win_rate = wins / (wins + losses), tie_share, win_share, loss_share)
/// plus score_difference, the mean of score(system) - score(baseline). A type that is both a
/// Generator and a Judge takes the label path; wrap it with as_judge() to come here.
template <PointwiseJudge J>
[[nodiscard]] evaluation pairwise(J& judge, std::span<const pairwise_input> inputs, const pairwise_judge_options& opt = {},
                                  const run_settings& rs = {}) {
  evaluation ev = detail::start_evaluation("pairwise", inputs, rs, &pairwise_input::answer, &pairwise_input::baseline);
  ev.metrics = detail::pairwise_metrics();
  ev.metrics.push_back({"score_difference", "mean judge score of the system's answer minus the baseline's", metric_kind::mean,
                        "score_difference", "", false, "", {}});
  ev.extra = nlohmann::json{{"mode", "pointwise"}, {"tie_margin", opt.tie_margin}, {"criteria", detail::criterion_names(opt.criteria)}};
  auto make = [&](const item_record& it, std::size_t k) {
    judge_request r;
    r.query = it.query;
    r.response = k == 0 ? it.response : it.baseline;
    r.criteria = opt.criteria;
    r.guidance = opt.guidance;
    r.seed = derive_seed(rs.seed, "eval/pairwise/pointwise", it.id);  // the same for both answers
    return r;
  };
  auto finish = [&](item_record& it, std::vector<judgement>& j) {
    it.detail["judgements"] = {{"system", detail::judgement_to_json(j[0])}, {"baseline", detail::judgement_to_json(j[1])}};
    const auto bad_system = detail::unreadable_reason(j[0]);
    const auto bad_baseline = detail::unreadable_reason(j[1]);
    if (bad_system || bad_baseline) {
      it.failure = "unreadable: " + (bad_system ? "system answer: " + *bad_system : "baseline answer: " + *bad_baseline);
      return;
    }
    const double d = *j[0].score - *j[1].score;
    const int outcome = d > opt.tie_margin ? 1 : d < -opt.tie_margin ? -1 : 0;
    it.evaluated = true;
    it.values = {{"win", outcome == 1 ? 1.0 : 0.0}, {"tie", outcome == 0 ? 1.0 : 0.0}, {"loss", outcome == -1 ? 1.0 : 0.0},
                 {"decided", outcome != 0 ? 1.0 : 0.0}, {"score_difference", d}};
    it.detail["outcome"] = outcome == 1 ? "win" : outcome == -1 ? "loss" : "tie";
  };
  detail::judge_each(judge, ev, 2, make, finish, rs);
  std::size_t wins = 0, ties = 0, losses = 0;
  for (const auto& it : ev.items) {
    if (!it.evaluated) continue;
    wins += it.values.at("win") > 0 ? 1 : 0;
    ties += it.values.at("tie") > 0 ? 1 : 0;
    losses += it.values.at("loss") > 0 ? 1 : 0;
  }
  ev.counts = {{"wins", wins}, {"ties", ties}, {"losses", losses}};
  return ev;
}

}  // namespace eval
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/eval/impl/pairwise.ipp>
#endif
