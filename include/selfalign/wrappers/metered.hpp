// selfalign: metered<B> — a backend whose every call is admitted against a shared meter's budget
// (calls, tokens, money, wall time) and recorded by role. The accounting types live in usage.hpp.
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
#include <selfalign/usage.hpp>
#include <selfalign/wrappers/forwarding.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

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
  /// An aspect selector's select() goes through this wrapper too (forwarding_wrapper).
  static constexpr bool hooks_select = true;

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

SELFALIGN_END_NAMESPACE
