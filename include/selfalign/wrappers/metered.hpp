// selfalign: metered<B> — a backend whose every call is admitted against a shared meter's budget
// (calls, tokens, money, wall time) and recorded by role. The accounting types live in usage.hpp.
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/usage.hpp>
#include <selfalign/wrappers/forwarding.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// Wraps a backend; every call is admitted against the meter's budget first (an exhausted budget
/// answers errc::budget_exhausted without calling the backend) and its usage is recorded under
/// `role`. Put a cached<> wrapper outside the meter (cached<metered<B>>) so that replayed calls
/// are free and do not count against the budget.
template <class B>
class metered : public detail::forwarding_wrapper<metered<B>, B> {
  using base = detail::forwarding_wrapper<metered<B>, B>;
  friend base;

 public:
  metered(B inner, std::shared_ptr<meter> m, std::string role = {}, std::string model = {})
      : base(std::forward<B>(inner)), meter_(std::move(m)), role_(std::move(role)), model_(std::move(model)) {}

  [[nodiscard]] selfalign::meter& get_meter() noexcept { return *meter_; }

 private:
  template <class T, class Req, class Call>
  result<T> through(std::string_view, const Req& r, Call&& call) {
    const std::int64_t worst = detail::worst_case_tokens(r);
    if (auto ok = meter_->admit(worst); !ok) return unexpected(std::move(ok).error());
    result<T> answer = fail(errc::internal, "unreachable");
    try {
      answer = call();
    } catch (...) {
      meter_->record(role_, model_, nullptr, true, worst);  // release the reservation, then let it propagate
      throw;
    }
    std::string model = model_;
    if constexpr (requires { r.model; }) {
      if (!r.model.empty()) model = r.model;
    }
    meter_->record(role_, model, answer ? &answer->usage : nullptr, !answer.has_value(), worst);
    return answer;
  }

  // A batch: its requests go to the inner batch path in chunks of the batch's width, so that the
  // budget is checked between chunks as it is between single calls (a cost or wall-time budget
  // cannot be overshot by more than one chunk). In a chunk each request is admitted on its own (a
  // refused one answers the budget error and is not sent) and each answer is recorded.
  template <class T, class Req, class CallBatch>
  std::vector<result<T>> through_batch(std::string_view, std::span<const Req> rs, const batch_options& o, CallBatch&& call_batch) {
    std::vector<result<T>> out;
    out.reserve(rs.size());
    const std::size_t width = o.max_concurrency == 0 ? 1 : o.max_concurrency;
    for (std::size_t begin = 0; begin < rs.size(); begin += width) {
      auto part = admitted_call<T>(rs.subspan(begin, std::min(width, rs.size() - begin)), call_batch);
      for (auto& a : part) out.push_back(std::move(a));
    }
    return out;
  }

  // A list of prompts for one request (generate_multi): every prompt is one call, admitted against
  // the budget before the request is sent and recorded with its own answer's usage, exactly as if
  // the prompts had gone out one by one (so a call budget and the call counts do not depend on
  // whether the server takes lists; the requests are in usage::requests). A refused prompt answers
  // the budget error and is left out of the list; the admitted ones go out together.
  template <class T, class Req, class CallMulti>
  std::vector<result<T>> through_multi(std::string_view, std::span<const Req> rs, const batch_options&, CallMulti&& call_multi) {
    return admitted_call<T>(rs, call_multi);
  }

  // Admits each request of `chunk`, sends the admitted ones in one call of `send` and records each
  // answer. One result per request of the chunk, in order.
  template <class T, class Req, class Send>
  std::vector<result<T>> admitted_call(std::span<const Req> chunk, Send& send) {
    std::vector<result<T>> out;
    out.reserve(chunk.size());
    std::vector<std::size_t> admitted;  // indices into chunk
    std::vector<std::int64_t> worst;
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      const std::int64_t w = detail::worst_case_tokens(chunk[i]);
      if (auto ok = meter_->admit(w); !ok) {
        out.emplace_back(unexpected(std::move(ok).error()));
        continue;
      }
      out.emplace_back(fail(errc::internal, "unreachable"));
      admitted.push_back(i);
      worst.push_back(w);
    }
    if (admitted.empty()) return out;
    std::vector<Req> subset;  // copied only when the budget refused part of the chunk
    if (admitted.size() != chunk.size())
      for (std::size_t i : admitted) subset.push_back(chunk[i]);
    std::vector<result<T>> answers;
    try {
      answers = send(admitted.size() == chunk.size() ? chunk : std::span<const Req>(subset));
    } catch (...) {
      for (std::int64_t w : worst) meter_->record(role_, model_, nullptr, true, w);  // release the reservations
      throw;
    }
    for (std::size_t k = 0; k < admitted.size(); ++k) {
      const Req& r = chunk[admitted[k]];
      std::string model = model_;
      if constexpr (requires { r.model; }) {
        if (!r.model.empty()) model = r.model;
      }
      if (k >= answers.size()) {  // a short answer: the CPOs' checks make this unreachable
        meter_->record(role_, model, nullptr, true, worst[k]);
        out[admitted[k]] = fail(errc::internal, "the inner model answered fewer results than requests");
        continue;
      }
      result<T>& answer = answers[k];
      meter_->record(role_, model, answer ? &answer->usage : nullptr, !answer.has_value(), worst[k]);
      out[admitted[k]] = std::move(answer);
    }
    return out;
  }

  std::shared_ptr<meter> meter_;
  std::string role_;
  std::string model_;
};

// An lvalue is borrowed (metered<B&>), an rvalue is moved in (metered<B>): docs/concepts.md.
template <class B>
metered(B&&, std::shared_ptr<meter>) -> metered<B>;
template <class B>
metered(B&&, std::shared_ptr<meter>, std::string) -> metered<B>;
template <class B>
metered(B&&, std::shared_ptr<meter>, std::string, std::string) -> metered<B>;

// It hooks an aspect selector's select() and keeps an inner model's own batch members (forwarding.hpp).
namespace detail {
template <class B>
inline constexpr bool hooks_select<metered<B>> = true;
template <class B>
inline constexpr bool hooks_batches<metered<B>> = true;
}  // namespace detail

SELFALIGN_END_NAMESPACE
