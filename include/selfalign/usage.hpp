// selfalign: usage accounting — prices, budgets, usage totals by role, the shared meter that
// enforces a budget, and the ledger an algorithm keeps of its own calls. No wrapper needed:
// algorithms and reports include this; wrappers/metered.hpp puts a meter in front of a backend.
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
#include <selfalign/json.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

SELFALIGN_BEGIN_NAMESPACE

/// The price of a model, in US dollars per million tokens.
struct price {
  double prompt_per_million = 0.0;
  double completion_per_million = 0.0;
};

/// Prices by model name; `fallback` applies to models not listed.
struct price_table {
  std::map<std::string, price> models;
  price fallback;

  [[nodiscard]] double cost(const std::string& model, const usage& u) const {
    auto it = models.find(model);
    const price& p = it == models.end() ? fallback : it->second;
    return (static_cast<double>(u.prompt_tokens) * p.prompt_per_million +
            static_cast<double>(u.completion_tokens) * p.completion_per_million) / 1e6;
  }

  /// Reads `{"model-name": {"prompt": 2.5, "completion": 10.0}, "*": {...}}` (USD per million
  /// tokens; "*" is the fallback).
  [[nodiscard]] static result<price_table> from_json(const nlohmann::json& j) {
    if (!j.is_object()) return fail(errc::invalid_argument, "a price table is a JSON object of model -> {prompt, completion}");
    price_table t;
    for (const auto& [name, v] : j.items()) {
      if (!v.is_object() || !v.contains("prompt") || !v.contains("completion") || !v["prompt"].is_number() ||
          !v["completion"].is_number())
        return fail(errc::invalid_argument,
                    fmt::format("price table entry '{}' needs numeric \"prompt\" and \"completion\" (USD per million tokens)", name));
      price p{v["prompt"].get<double>(), v["completion"].get<double>()};
      if (name == "*") t.fallback = p;
      else t.models[name] = p;
    }
    return t;
  }
};

namespace detail {

/// About 4 bytes a token: the estimate a call reserves before the server says what it used.
[[nodiscard]] inline std::int64_t text_token_estimate(std::string_view text) noexcept {
  return static_cast<std::int64_t>((text.size() + 3) / 4);
}
[[nodiscard]] inline std::int64_t prompt_token_estimate(const prompt& p) {
  if (p.is_tokens()) return static_cast<std::int64_t>(p.token_ids().size());
  if (p.is_text()) return text_token_estimate(p.raw_text());
  std::int64_t n = 0;
  for (const auto& m : p.messages()) n += text_token_estimate(m.content) + 4;  // + the template's role markers
  return n;
}

/// The most tokens a call can use: prompt estimate + max_tokens for each choice (generation),
/// prompt + continuation (scoring), the texts (embeddings), what the judge reads (judging).
template <class Req>
[[nodiscard]] std::int64_t worst_case_tokens(const Req& r) {
  if constexpr (std::is_same_v<Req, generation_request>) {
    return prompt_token_estimate(r.prompt) +
           static_cast<std::int64_t>(std::max(0, r.sampling.max_tokens)) * std::max(1, r.sampling.n);
  } else if constexpr (std::is_same_v<Req, scoring_request>) {
    const std::int64_t cont = r.continuation_token_ids.empty() ? text_token_estimate(r.continuation)
                                                               : static_cast<std::int64_t>(r.continuation_token_ids.size());
    return prompt_token_estimate(r.prompt) + cont + 1;
  } else if constexpr (std::is_same_v<Req, embedding_request>) {
    std::int64_t n = 0;
    for (const auto& t : r.texts) n += text_token_estimate(t);
    return n;
  } else if constexpr (std::is_same_v<Req, judge_request>) {
    return text_token_estimate(r.query) + text_token_estimate(r.response);
  } else {
    return 0;
  }
}

}  // namespace detail

/// Limits; an empty optional means no limit.
struct budget {
  std::optional<std::int64_t> max_calls;   ///< billed calls (cache hits are free when the cache wraps the meter)
  std::optional<std::int64_t> max_tokens;  ///< prompt + completion tokens
  std::optional<double> max_cost;          ///< USD, from the price table
  std::optional<std::chrono::milliseconds> max_wall_time;  ///< since the meter was created

  // Named forms, e.g. budget::calls(500).and_tokens(2'000'000): a designated initializer that
  // leaves fields out (budget{.max_calls = 500}) warns under GCC's -Wextra.
  [[nodiscard]] static budget calls(std::int64_t n) { return budget().and_calls(n); }
  [[nodiscard]] static budget tokens(std::int64_t n) { return budget().and_tokens(n); }
  [[nodiscard]] static budget cost(double usd) { return budget().and_cost(usd); }
  [[nodiscard]] static budget wall_time(std::chrono::milliseconds t) { return budget().and_wall_time(t); }
  [[nodiscard]] budget and_calls(std::int64_t n) const { budget b = *this; b.max_calls = n; return b; }
  [[nodiscard]] budget and_tokens(std::int64_t n) const { budget b = *this; b.max_tokens = n; return b; }
  [[nodiscard]] budget and_cost(double usd) const { budget b = *this; b.max_cost = usd; return b; }
  [[nodiscard]] budget and_wall_time(std::chrono::milliseconds t) const { budget b = *this; b.max_wall_time = t; return b; }
};

/// Usage of one role (or of everything).
struct usage_totals {
  std::int64_t calls = 0;   ///< calls answered by the backend
  std::int64_t failed = 0;  ///< calls that returned an error
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cache_hits = 0;  ///< answers replayed from a cache below the meter (not billed)
  double cost = 0.0;

  /// One answer (or `calls` attempts that produced it): a replay from a cache counts as cache
  /// hits only, anything else as billed calls with its tokens and `cost`.
  void add_answer(const usage& u, double answer_cost, std::int64_t calls_made = 1) noexcept {
    if (u.from_cache) {
      cache_hits += calls_made;
      return;
    }
    calls += calls_made;
    prompt_tokens += u.prompt_tokens;
    completion_tokens += u.completion_tokens;
    cost += answer_cost;
  }
  usage_totals& operator+=(const usage_totals& o) noexcept {
    calls += o.calls;
    failed += o.failed;
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    cache_hits += o.cache_hits;
    cost += o.cost;
    return *this;
  }
  friend bool operator==(const usage_totals&, const usage_totals&) = default;
};

inline void to_json(nlohmann::json& j, const usage_totals& u) {
  j = {{"calls", u.calls}, {"failed", u.failed}, {"prompt_tokens", u.prompt_tokens},
       {"completion_tokens", u.completion_tokens}, {"cache_hits", u.cache_hits}, {"cost_usd", u.cost}};
}
inline void from_json(const nlohmann::json& j, usage_totals& u) {
  detail::get_if_present(j, "calls", u.calls);
  detail::get_if_present(j, "failed", u.failed);
  detail::get_if_present(j, "prompt_tokens", u.prompt_tokens);
  detail::get_if_present(j, "completion_tokens", u.completion_tokens);
  detail::get_if_present(j, "cache_hits", u.cache_hits);
  detail::get_if_present(j, "cost_usd", u.cost);
}

/// Counts usage and enforces a budget. Thread-safe; share one meter between the wrappers of all
/// roles so that the budget covers the whole run.
class meter {
 public:
  explicit meter(selfalign::budget b = {}, price_table prices = {})
      : budget_(std::move(b)), prices_(std::move(prices)), start_(std::chrono::steady_clock::now()) {}

  /// Makes every later admit() fail with errc::cancelled once `*flag` is true. For Ctrl-C: a
  /// signal handler may set a lock-free std::atomic<bool>, which is all this reads. The flag must
  /// outlive the meter.
  void set_interrupt_flag(const std::atomic<bool>* flag) noexcept { interrupt_ = flag; }

  /// Reserves one call against the budget, or says which budget ran out. `worst_case_tokens` (the
  /// prompt's estimate plus max_tokens for every choice) is held against the token budget until
  /// record() releases it, so that calls in flight cannot overshoot it together.
  [[nodiscard]] result<void> admit(std::int64_t worst_case_tokens = 0) {
    if (interrupt_ && interrupt_->load()) return fail(errc::cancelled, "interrupted");
    std::lock_guard lock(mutex_);
    if (auto why = exhausted_locked()) return fail(errc::budget_exhausted, *why);
    ++reserved_;
    reserved_tokens_ += std::max<std::int64_t>(0, worst_case_tokens);
    return {};
  }

  /// Records the answer of an admitted call and releases its reservation (pass the same
  /// `worst_case_tokens` as to admit()).
  void record(const std::string& role, const std::string& model, const usage* u, bool failed,
              std::int64_t worst_case_tokens = 0) {
    std::lock_guard lock(mutex_);
    --reserved_;
    reserved_tokens_ -= std::max<std::int64_t>(0, worst_case_tokens);
    const double cost = (!failed && u) ? prices_.cost(model, *u) : 0.0;
    for (usage_totals* t : {&total_, &by_role_[role]}) {
      if (failed) ++t->failed;
      else t->add_answer(u ? *u : usage{}, cost);
    }
  }

  /// Which budget is exhausted, if any ("call budget of 40 calls used up").
  [[nodiscard]] std::optional<std::string> exhausted() const {
    std::lock_guard lock(mutex_);
    return exhausted_locked();
  }

  /// Which budget the finished calls went beyond, if any. The last admitted calls may use more
  /// than what was left (a reservation is an estimate); a run that ends like this did not stay
  /// within its budget, and the CLI exits 4 for it.
  [[nodiscard]] std::optional<std::string> overspent() const {
    std::lock_guard lock(mutex_);
    const std::int64_t tokens = total_.prompt_tokens + total_.completion_tokens;
    if (budget_.max_tokens && tokens > *budget_.max_tokens)
      return fmt::format("the token budget of {} tokens was exceeded: {} tokens used", *budget_.max_tokens, tokens);
    if (budget_.max_cost && total_.cost > *budget_.max_cost)
      return fmt::format("the cost budget of ${:.4f} was exceeded: ${:.4f} spent", *budget_.max_cost, total_.cost);
    if (budget_.max_calls && total_.calls + total_.failed > *budget_.max_calls)
      return fmt::format("the call budget of {} calls was exceeded: {} calls made", *budget_.max_calls, total_.calls + total_.failed);
    return std::nullopt;
  }

  [[nodiscard]] usage_totals totals() const {
    std::lock_guard lock(mutex_);
    return total_;
  }
  [[nodiscard]] std::map<std::string, usage_totals> by_role() const {
    std::lock_guard lock(mutex_);
    return by_role_;
  }
  [[nodiscard]] std::chrono::milliseconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_);
  }
  [[nodiscard]] const selfalign::budget& budget() const noexcept { return budget_; }

 private:
  std::optional<std::string> exhausted_locked() const {
    // Calls in flight count against the call budget so that concurrency cannot overshoot it.
    if (budget_.max_calls && total_.calls + total_.failed + reserved_ >= *budget_.max_calls)
      return fmt::format("the call budget of {} calls is used up", *budget_.max_calls);
    // Calls in flight hold their worst case against the token budget (see admit()).
    if (budget_.max_tokens && total_.prompt_tokens + total_.completion_tokens + reserved_tokens_ >= *budget_.max_tokens)
      return fmt::format("the token budget of {} tokens is used up", *budget_.max_tokens);
    if (budget_.max_cost && total_.cost >= *budget_.max_cost)
      return fmt::format("the cost budget of ${:.4f} is used up", *budget_.max_cost);
    if (budget_.max_wall_time && elapsed() >= *budget_.max_wall_time)
      return fmt::format("the wall-time budget of {:.1f} s is used up",
                         static_cast<double>(budget_.max_wall_time->count()) / 1000.0);
    return std::nullopt;
  }

  selfalign::budget budget_;
  price_table prices_;
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mutex_;
  usage_totals total_;
  std::map<std::string, usage_totals> by_role_;
  std::int64_t reserved_ = 0;
  std::int64_t reserved_tokens_ = 0;
  const std::atomic<bool>* interrupt_ = nullptr;
};

/// A run's usage: per role ("base", "judge", "generator", ...) and in total. Every algorithm's
/// report carries one (`run_usage`), so one piece of code can read the cost of any run.
struct usage_summary {
  std::map<std::string, usage_totals> by_role;
  usage_totals total;  ///< the sum over the roles
  friend bool operator==(const usage_summary&, const usage_summary&) = default;
};

inline void to_json(nlohmann::json& j, const usage_summary& u) { j = {{"by_role", u.by_role}, {"total", u.total}}; }
inline void from_json(const nlohmann::json& j, usage_summary& u) {
  detail::get_if_present(j, "by_role", u.by_role);
  detail::get_if_present(j, "total", u.total);
}

/// The usage an algorithm records of its own calls, by role (thread-safe). Unlike a meter it
/// enforces nothing: it is what the algorithm reports, whatever wraps its backends. Prices are
/// looked up by the model configured for the role (`models`: role -> model name).
class usage_ledger {
 public:
  usage_ledger() = default;
  usage_ledger(price_table prices, std::map<std::string, std::string> models)
      : prices_(std::move(prices)), models_(std::move(models)) {}

  /// An answer that took `calls` attempts; 0 attempts (answered from an in-process memo) is no call.
  void add(const std::string& role, const usage& u, std::int64_t calls = 1) {
    if (calls <= 0) return;
    const auto model = models_.find(role);
    const double cost = prices_.cost(model == models_.end() ? std::string() : model->second, u);
    std::lock_guard lock(mutex_);
    by_role_[role].add_answer(u, cost, calls);
  }
  /// A call that returned an error.
  void failed(const std::string& role) {
    std::lock_guard lock(mutex_);
    ++by_role_[role].failed;
  }
  [[nodiscard]] usage_summary summary() const {
    std::lock_guard lock(mutex_);
    usage_summary s;
    s.by_role = by_role_;
    for (const auto& [role, t] : by_role_) s.total += t;
    return s;
  }

 private:
  price_table prices_;
  std::map<std::string, std::string> models_;
  mutable std::mutex mutex_;
  std::map<std::string, usage_totals> by_role_;
};

SELFALIGN_END_NAMESPACE
