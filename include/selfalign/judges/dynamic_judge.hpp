// selfalign: dynamic_judge — DRPO's dynamic reward as one Judge: select the aspects for the query
// (cached per query), then score the response on them
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/judges/aspect_selector.hpp>
#include <selfalign/judges/aspects.hpp>

#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace judges {

/// Options of dynamic_judge.
struct dynamic_judge_options {
  int min_aspects = 2;  ///< [C] DRPO prompt stage: 2..5 aspects
  int max_aspects = 5;
  std::string selection_guidance;         ///< extra instructions for the selector
  aspect_catalogue catalogue = default_aspects();  ///< rubrics attached to the selected aspects
};

/// A Judge that chooses its criteria per query: requests without criteria get the aspects the
/// selector picks for their query (with the catalogue's rubrics and the selector's reasoning as
/// guidance); requests with criteria go to the inner judge unchanged. The selection's parse status
/// is reported in the judgement's rationale when it failed (the fallback aspects were used).
template <AspectSelector S, Judge J>
class dynamic_judge {
 public:
  using selfalign_forwards_calls = void;  // the limits of the models it calls apply
  // type_identity_t: only the deduction guides below deduce (Clang 14 chose this constructor's own
  // guide for an lvalue, copying it instead of borrowing it).
  dynamic_judge(std::type_identity_t<S> selector, std::type_identity_t<J> judge, dynamic_judge_options options = {})
      : selector_(std::forward<S>(selector)), judge_(std::forward<J>(judge)), opt_(std::move(options)) {}

  [[nodiscard]] result<judgement> judge(const judge_request& r) {
    auto out = judge_batch(std::span<const judge_request>(&r, 1), batch_options{1, {}});
    return std::move(out.front());
  }

  [[nodiscard]] std::vector<result<judgement>> judge_batch(std::span<const judge_request> requests,
                                                           const batch_options& options = {}) {
    std::vector<judge_request> filled(requests.begin(), requests.end());
    std::vector<selection_request> sel;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < filled.size(); ++i) {
      if (!filled[i].criteria.empty()) continue;
      selection_request s;
      s.query = filled[i].query;
      s.min_aspects = opt_.min_aspects;
      s.max_aspects = opt_.max_aspects;
      s.guidance = opt_.selection_guidance;
      s.seed = filled[i].seed;
      sel.push_back(std::move(s));
      which.push_back(i);
    }
    std::vector<std::optional<error>> errors(filled.size());
    std::vector<bool> fallback(filled.size(), false);
    if (!sel.empty()) {
      auto chosen = judges::select_batch(selector_, std::span<const selection_request>(sel), options);
      for (std::size_t k = 0; k < which.size(); ++k) {
        if (!chosen[k]) {
          errors[which[k]] = chosen[k].error();
          continue;
        }
        apply_selection(filled[which[k]], *chosen[k], opt_.catalogue);
        fallback[which[k]] = chosen[k]->status == parse_status::failed;
      }
    }
    std::vector<judge_request> asked;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < filled.size(); ++i)
      if (!errors[i]) {
        asked.push_back(std::move(filled[i]));
        index.push_back(i);
      }
    auto verdicts = selfalign::judge_batch(judge_, std::span<const judge_request>(asked), options);
    std::vector<result<judgement>> out(requests.size(), result<judgement>(judgement{}));
    for (std::size_t i = 0; i < requests.size(); ++i)
      if (errors[i]) out[i] = unexpected(*errors[i]);
    for (std::size_t k = 0; k < index.size(); ++k) {
      out[index[k]] = std::move(verdicts[k]);
      if (fallback[index[k]] && out[index[k]])
        out[index[k]]->rationale = "aspect selection unreadable; fallback aspects used. " + out[index[k]]->rationale;
    }
    return out;
  }

  [[nodiscard]] S& selector() noexcept { return selector_; }
  [[nodiscard]] J& inner() noexcept { return judge_; }

 private:
  S selector_;
  J judge_;
  dynamic_judge_options opt_;
};

// Lvalues are borrowed (S&, J&), rvalues are moved in: docs/concepts.md.
template <class S, class J>
dynamic_judge(S&&, J&&) -> dynamic_judge<S, J>;
template <class S, class J>
dynamic_judge(S&&, J&&, dynamic_judge_options) -> dynamic_judge<S, J>;

}  // namespace judges
SELFALIGN_END_NAMESPACE
