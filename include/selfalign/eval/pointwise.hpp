// selfalign: eval pointwise judging — what the label protocols (pairwise, harmless, truthful) share
// when the judge is a Judge (scores an answer on criteria) instead of a Generator (writes a label):
// eval::as_judge for types that are both, the criteria of the protocols, and the judging loop
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/calls.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/eval/evaluation.hpp>
#include <selfalign/eval/run.hpp>
#include <selfalign/judges/aspects.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace eval {

/// A borrowed Judge seen only as a Judge. pairwise, harmless and truthful treat a type that
/// models both Generator and Judge as a Generator (the judge model writes a label, as before);
/// wrap it with as_judge() to have it score the answers pointwise instead:
/// @code
/// auto j = selfalign::eval::as_judge(both);   // `both` must outlive `j`
/// auto ev = selfalign::eval::pairwise(j, items, selfalign::eval::pairwise_judge_options{}, rs);
/// @endcode
/// The wrapped judge's own call limit applies (its judge_batch, when it has one, is used).
template <Judge J>
class judge_view {
 public:
  using selfalign_forwards_calls = void;  // the wrapped judge's call limit applies
  explicit judge_view(J& judge) noexcept : j_(std::addressof(judge)) {}

  [[nodiscard]] result<judgement> judge(const judge_request& r) { return selfalign::detail::call_judge(*j_, r); }
  [[nodiscard]] std::vector<result<judgement>> judge_batch(std::span<const judge_request> requests, const batch_options& options = {}) {
    return selfalign::judge_batch(*j_, requests, options);
  }
  [[nodiscard]] J& get() const noexcept { return *j_; }

 private:
  J* j_;
};

/// Wraps `judge` (borrowed) so that it is used as a Judge only; see judge_view.
template <Judge J>
[[nodiscard]] judge_view<J> as_judge(J& judge) noexcept {
  return judge_view<J>(judge);
}

/// A judge for the pointwise overloads: a Judge that is not also a Generator (those take the
/// label path unless wrapped with as_judge()).
template <class J>
concept PointwiseJudge = Judge<J> && !Generator<J>;

/// The criterion of the harmless protocol's pointwise judge (1-5; harmless at or above the threshold).
[[nodiscard]] SELFALIGN_DECL criterion harmlessness_criterion();

/// The criteria of the truthful protocol's pointwise judge (TruthfulQA's two questions, 1-5).
[[nodiscard]] SELFALIGN_DECL criterion truthfulness_criterion();
[[nodiscard]] SELFALIGN_DECL criterion informativeness_criterion();

/// The criteria pairwise scores both answers on by default: the label path's default focus
/// (helpfulness, accuracy, clarity and harmlessness) as aspects of the catalogue.
[[nodiscard]] SELFALIGN_DECL std::vector<criterion> default_pairwise_criteria();

namespace detail {

/// Why a judgement cannot be used, or nothing when it has a score.
[[nodiscard]] SELFALIGN_DECL std::optional<std::string> unreadable_reason(const judgement& j);

/// The score a judgement gave criterion `name` (names compared as the aspect catalogue does), or
/// the overall score when `overall_if_unnamed` and the judgement names no criterion at all (a
/// reward-model adapter that returns one number). An error message when there is none.
[[nodiscard]] SELFALIGN_DECL result<double> criterion_score_of(const judgement& j, std::string_view name, bool overall_if_unnamed);

/// What an item's record keeps of one judgement.
[[nodiscard]] SELFALIGN_DECL nlohmann::json judgement_to_json(const judgement& j);

/// Asks `per_item` judge requests about every item of ev.items (make(item, k)), chunk by chunk
/// through judge_batch, and hands each item's judgements to finish(item, judgements). A
/// judgement that could not be read (parse_status::failed, or an errc::parse_failure error, which
/// becomes a failed judgement with the error's message as rationale) is passed on: finish decides.
/// An item too long for the judge's context is a failure; any other error stops the run after its
/// chunk with the item unfinished (the error goes to ev.status).
template <Judge J>
void judge_each(J& judge, evaluation& ev, std::size_t per_item, const std::function<judge_request(const item_record&, std::size_t)>& make,
                const std::function<void(item_record&, std::vector<judgement>&)>& finish, const run_settings& rs) {
  std::optional<selfalign::error> stop;
  const std::size_t n = ev.items.size();
  const std::size_t chunk = rs.chunk_size == 0 ? 1 : rs.chunk_size;
  const batch_options batch{rs.max_concurrency == 0 ? 1 : rs.max_concurrency, rs.stop};
  for (std::size_t begin = 0; begin < n && !stop; begin += chunk) {
    if (rs.stop.stop_requested()) {
      stop = selfalign::error(errc::cancelled, "the evaluation was stopped");
      break;
    }
    const std::size_t end = std::min(n, begin + chunk);
    std::vector<judge_request> requests;
    for (std::size_t i = begin; i < end; ++i)
      for (std::size_t k = 0; k < per_item; ++k) requests.push_back(make(ev.items[i], k));
    auto verdicts = judge_batch(judge, std::span<const judge_request>(requests), batch);
    for (std::size_t i = begin; i < end; ++i) {
      std::vector<judgement> mine;
      std::optional<selfalign::error> failed;
      for (std::size_t k = 0; k < per_item; ++k) {
        auto& v = verdicts[(i - begin) * per_item + k];
        if (v) {
          mine.push_back(std::move(*v));
          continue;
        }
        if (v.error().code == errc::parse_failure) {
          judgement j;
          j.status = parse_status::failed;
          j.rationale = v.error().message;
          mine.push_back(std::move(j));
          continue;
        }
        if (!failed || (failed->code == errc::context_overflow && v.error().code != errc::context_overflow)) failed = v.error();
        mine.emplace_back();
      }
      if (!item_calls_succeeded(ev.items[i], failed, stop)) continue;
      for (const auto& j : mine) ev.items[i].judge_usage += j.usage;
      finish(ev.items[i], mine);
    }
    if (rs.on_progress) rs.on_progress(end, n);
  }
  finish_run(ev, stop);
}

/// The names of some criteria, for evaluation::extra.
[[nodiscard]] SELFALIGN_DECL std::vector<std::string> criterion_names(const std::vector<criterion>& criteria);

}  // namespace detail
}  // namespace eval
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/eval/impl/pointwise.ipp>
#endif
