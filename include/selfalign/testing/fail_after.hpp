// selfalign: fail_after<B> — lets n calls through, then fails every call with a given errc
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/wrappers/forwarding.hpp>

#include <atomic>
#include <fmt/format.h>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace testing {

/// Wraps a backend: the first `n` calls (of any operation; each prompt of a generate_multi list is
/// one call) reach it, every later call returns `code` without reaching it. For testing retries, partial reports and resume. Copies share the
/// counter.
template <class B>
class fail_after : public detail::forwarding_wrapper<fail_after<B>, B> {
  using base = detail::forwarding_wrapper<fail_after<B>, B>;
  friend base;

 public:
  fail_after(B inner, std::size_t n, errc code = errc::server_error)
      : base(std::forward<B>(inner)), limit_(n), code_(code), count_(std::make_shared<std::atomic<std::size_t>>(0)) {}

  /// Calls seen so far, passed and failed (the testing kit's one vocabulary: call_count() everywhere).
  [[nodiscard]] std::size_t call_count() const noexcept { return count_->load(); }
  /// Older spelling of call_count(), kept.
  [[nodiscard]] std::size_t calls() const noexcept { return call_count(); }

 private:
  [[nodiscard]] unexpected injected(std::string_view op, std::size_t i) const {
    error e(code_, fmt::format("fail_after: injected {} on call {} ({}; {} calls allowed)", to_string(code_), i + 1, op, limit_));
    if (code_ == errc::rate_limited) e.http_status = 429;
    if (code_ == errc::server_error) e.http_status = 500;
    return unexpected(std::move(e));
  }

  template <class T, class Req, class Call>
  result<T> through(std::string_view op, const Req&, Call&& call) {
    const std::size_t i = count_->fetch_add(1);
    if (i >= limit_) return injected(op, i);
    return call();
  }

  // A list of prompts (generate_multi): each prompt is one call, counted in list order; the ones
  // within the limit go on together as one list, the others fail.
  template <class T, class Req, class CallMulti>
  std::vector<result<T>> through_multi(std::string_view op, std::span<const Req> rs, const batch_options&, CallMulti&& call_multi) {
    std::vector<std::optional<result<T>>> out(rs.size());
    std::vector<Req> passed;
    std::vector<std::size_t> where;
    for (std::size_t k = 0; k < rs.size(); ++k) {
      const std::size_t i = count_->fetch_add(1);
      if (i >= limit_) {
        out[k] = result<T>(injected(op, i));
      } else {
        passed.push_back(rs[k]);
        where.push_back(k);
      }
    }
    if (!passed.empty()) {
      auto answers = call_multi(std::span<const Req>(passed));
      for (std::size_t k = 0; k < where.size(); ++k)
        out[where[k]] = k < answers.size() ? std::move(answers[k]) : result<T>(fail(errc::internal, "fail_after: a short answer"));
    }
    std::vector<result<T>> all;
    all.reserve(rs.size());
    for (auto& o : out) all.push_back(std::move(*o));
    return all;
  }

  std::size_t limit_;
  errc code_;
  std::shared_ptr<std::atomic<std::size_t>> count_;
};

// An lvalue is borrowed (fail_after<B&>), an rvalue is moved in (fail_after<B>).
template <class B>
fail_after(B&&, std::size_t) -> fail_after<B>;
template <class B>
fail_after(B&&, std::size_t, errc) -> fail_after<B>;

}  // namespace testing
SELFALIGN_END_NAMESPACE
