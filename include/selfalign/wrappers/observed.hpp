// selfalign: observed<B> — reports every call (start, finish with latency and usage, error)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/events.hpp>
#include <selfalign/wrappers/forwarding.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// Wraps a backend and sends call_started, then call_finished or call_failed, to an observer.
/// Events from one wrapper are delivered one at a time (the wrapper serializes its callbacks).
template <class B>
class observed : public detail::forwarding_wrapper<observed<B>, B> {
  using base = detail::forwarding_wrapper<observed<B>, B>;
  friend base;

 public:
  observed(B inner, observer on_event, std::string role = {})
      : base(std::forward<B>(inner)), on_event_(std::move(on_event)), role_(std::move(role)),
        shared_(std::make_shared<shared_state>()) {}

 private:
  struct shared_state {
    std::mutex mutex;
    std::atomic<std::uint64_t> next_id{1};
  };

  void emit(const event& e) {
    if (!on_event_) return;
    std::lock_guard lock(shared_->mutex);
    on_event_(e);
  }

  [[nodiscard]] event started(std::string_view op) {
    event e;
    e.source = std::string(op);
    e.role = role_;
    e.call_id = shared_->next_id.fetch_add(1);
    e.kind = event_kind::call_started;
    emit(e);
    return e;
  }
  template <class T>
  void ended(event e, const result<T>& answer, std::chrono::steady_clock::time_point t0) {
    e.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (answer) {
      e.kind = event_kind::call_finished;
      e.usage = answer->usage;
    } else {
      e.kind = event_kind::call_failed;
      e.error = answer.error();
      e.message = answer.error().describe();
    }
    emit(e);
  }

  template <class T, class Req, class Call>
  result<T> through(std::string_view op, const Req&, Call&& call) {
    event e = started(op);
    const auto t0 = std::chrono::steady_clock::now();
    result<T> answer = call();
    ended(std::move(e), answer, t0);
    return answer;
  }

  // A batch: every request is reported as started before the batch is sent and as finished or
  // failed when it returns; the latency of each is the batch's.
  template <class T, class Req, class CallBatch>
  std::vector<result<T>> through_batch(std::string_view op, std::span<const Req> rs, const batch_options&, CallBatch&& call_batch) {
    std::vector<event> events;
    events.reserve(rs.size());
    for (std::size_t i = 0; i < rs.size(); ++i) events.push_back(started(op));
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<result<T>> answers = call_batch(rs);
    for (std::size_t i = 0; i < answers.size() && i < events.size(); ++i) ended(std::move(events[i]), answers[i], t0);
    return answers;
  }

  // A list of prompts for one request (generate_multi): reported as a batch is, one call per
  // prompt (started before the request is sent, finished or failed when it returns).
  template <class T, class Req, class CallMulti>
  std::vector<result<T>> through_multi(std::string_view op, std::span<const Req> rs, const batch_options& o, CallMulti&& call_multi) {
    return through_batch<T>(op, rs, o, call_multi);
  }

  observer on_event_;
  std::string role_;
  std::shared_ptr<shared_state> shared_;
};

// An lvalue is borrowed (observed<B&>), an rvalue is moved in (observed<B>): docs/concepts.md.
template <class B>
observed(B&&, observer) -> observed<B>;
template <class B>
observed(B&&, observer, std::string) -> observed<B>;

// It hooks an aspect selector's select() and keeps an inner model's own batch members (forwarding.hpp).
namespace detail {
template <class B>
inline constexpr bool hooks_select<observed<B>> = true;
template <class B>
inline constexpr bool hooks_batches<observed<B>> = true;
}  // namespace detail

SELFALIGN_END_NAMESPACE
