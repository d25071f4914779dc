// selfalign: observed<B> — reports every call (start, finish with latency and usage, error)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
#include <selfalign/events.hpp>
#include <selfalign/wrappers/forwarding.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

SELFALIGN_BEGIN_NAMESPACE

/// Wraps a backend and sends call_started, then call_finished or call_failed, to an observer.
/// Events from one wrapper are delivered one at a time (the wrapper serializes its callbacks).
template <class B>
class observed : public detail::forwarding_wrapper<observed<B>, B> {
  using base = detail::forwarding_wrapper<observed<B>, B>;
  friend base;

 public:
  /// An aspect selector's select() goes through this wrapper too (forwarding_wrapper).
  static constexpr bool hooks_select = true;

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

  template <class T, class Req, class Call>
  result<T> through(std::string_view op, const Req&, Call&& call) {
    event e;
    e.source = std::string(op);
    e.role = role_;
    e.call_id = shared_->next_id.fetch_add(1);
    e.kind = event_kind::call_started;
    emit(e);
    const auto t0 = std::chrono::steady_clock::now();
    result<T> answer = call();
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
    return answer;
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

SELFALIGN_END_NAMESPACE
