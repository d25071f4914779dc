// selfalign: usage accounting — prices, budgets, usage totals by role, the shared meter that
// enforces a budget, and the ledger an algorithm keeps of its own calls. No wrapper needed:
// algorithms and reports include this; wrappers/metered.hpp puts a meter in front of a backend.
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
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

  [[nodiscard]] double cost(const std::string& model, const usage& u) const;

  /// Reads `{"model-name": {"prompt": 2.5, "completion": 10.0}, "*": {...}}` (USD per million
  /// tokens; "*" is the fallback).
  [[nodiscard]] static result<price_table> from_json(const nlohmann::json& j);
};

namespace detail {

/// About 4 bytes a token: the estimate a call reserves before the server says what it used.
[[nodiscard]] SELFALIGN_DECL std::int64_t text_token_estimate(std::string_view text) noexcept;
[[nodiscard]] SELFALIGN_DECL std::int64_t prompt_token_estimate(const prompt& p);

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
  void add_answer(const usage& u, double answer_cost, std::int64_t calls_made = 1) noexcept;
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

SELFALIGN_DECL void to_json(nlohmann::json& j, const usage_totals& u);
SELFALIGN_DECL void from_json(const nlohmann::json& j, usage_totals& u);

/// Counts usage and enforces a budget. Thread-safe; share one meter between the wrappers of all
/// roles so that the budget covers the whole run.
class meter {
 public:
  explicit meter(selfalign::budget b = {}, price_table prices = {});

  /// Makes every later admit() fail with errc::cancelled once `*flag` is true. For Ctrl-C: a
  /// signal handler may set a lock-free std::atomic<bool>, which is all this reads. The flag must
  /// outlive the meter.
  void set_interrupt_flag(const std::atomic<bool>* flag) noexcept { interrupt_ = flag; }

  /// Reserves one call against the budget, or says which budget ran out. `worst_case_tokens` (the
  /// prompt's estimate plus max_tokens for every choice) is held against the token budget until
  /// record() releases it, so that calls in flight cannot overshoot it together.
  [[nodiscard]] result<void> admit(std::int64_t worst_case_tokens = 0);

  /// Records the answer of an admitted call and releases its reservation (pass the same
  /// `worst_case_tokens` as to admit()).
  void record(const std::string& role, const std::string& model, const usage* u, bool failed,
              std::int64_t worst_case_tokens = 0);

  /// Which budget is exhausted, if any ("call budget of 40 calls used up").
  [[nodiscard]] std::optional<std::string> exhausted() const;

  /// Which budget the finished calls went beyond, if any. The last admitted calls may use more
  /// than what was left (a reservation is an estimate); a run that ends like this did not stay
  /// within its budget, and the CLI exits 4 for it.
  [[nodiscard]] std::optional<std::string> overspent() const;

  [[nodiscard]] usage_totals totals() const;
  [[nodiscard]] std::map<std::string, usage_totals> by_role() const;
  [[nodiscard]] std::chrono::milliseconds elapsed() const;
  [[nodiscard]] const selfalign::budget& budget() const noexcept { return budget_; }

 private:
  std::optional<std::string> exhausted_locked() const;

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

SELFALIGN_DECL void to_json(nlohmann::json& j, const usage_summary& u);
SELFALIGN_DECL void from_json(const nlohmann::json& j, usage_summary& u);

/// The usage an algorithm records of its own calls, by role (thread-safe). Unlike a meter it
/// enforces nothing: it is what the algorithm reports, whatever wraps its backends. Prices are
/// looked up by the model configured for the role (`models`: role -> model name).
class usage_ledger {
 public:
  usage_ledger() = default;
  usage_ledger(price_table prices, std::map<std::string, std::string> models);

  /// An answer that took `calls` attempts; 0 attempts (answered from an in-process memo) is no call.
  void add(const std::string& role, const usage& u, std::int64_t calls = 1);
  /// A call that returned an error.
  void failed(const std::string& role);
  [[nodiscard]] usage_summary summary() const;

 private:
  price_table prices_;
  std::map<std::string, std::string> models_;
  mutable std::mutex mutex_;
  std::map<std::string, usage_totals> by_role_;
};

SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/impl/usage.ipp>
#endif
