// selfalign: definitions for <selfalign/usage.hpp> (usage accounting — prices, budgets, usage totals by role, the shared meter that)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/json_fields.hpp>
#include <selfalign/usage.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

SELFALIGN_DECL double price_table::cost(const std::string& model, const usage& u) const {
  auto it = models.find(model);
  const price& p = it == models.end() ? fallback : it->second;
  return (static_cast<double>(u.prompt_tokens) * p.prompt_per_million +
          static_cast<double>(u.completion_tokens) * p.completion_per_million) / 1e6;
}

SELFALIGN_DECL result<price_table> price_table::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return fail(errc::invalid_argument, "a price table is a JSON object of model -> {prompt, completion}");
  price_table t;
  for (const auto& [name, v] : j.items()) {
    if (!v.is_object() || !v.contains("prompt") || !v.contains("completion") || !v["prompt"].is_number() ||
        !v["completion"].is_number())
      return fail(errc::invalid_argument,
                  selfalign::detail::format_text("price table entry '{}' needs numeric \"prompt\" and \"completion\" (USD per million tokens)", name));
    price p{v["prompt"].get<double>(), v["completion"].get<double>()};
    if (name == "*") t.fallback = p;
    else t.models[name] = p;
  }
  return t;
}

namespace detail {

SELFALIGN_DECL std::int64_t text_token_estimate(std::string_view text) noexcept {
  return static_cast<std::int64_t>((text.size() + 3) / 4);
}

SELFALIGN_DECL std::int64_t prompt_token_estimate(const prompt& p) {
  if (p.is_tokens()) return static_cast<std::int64_t>(p.token_ids().size());
  if (p.is_text()) return text_token_estimate(p.raw_text());
  std::int64_t n = 0;
  for (const auto& m : p.messages()) n += text_token_estimate(m.content) + 4;  // + the template's role markers
  return n;
}

}  // namespace detail
SELFALIGN_DECL void usage_totals::add_answer(const usage& u, double answer_cost, std::int64_t calls_made) noexcept {
  if (u.from_cache) {
    cache_hits += calls_made;
    return;
  }
  calls += calls_made;
  prompt_tokens += u.prompt_tokens;
  completion_tokens += u.completion_tokens;
  cost += answer_cost;
}

namespace detail {
inline constexpr auto usage_totals_fields = json_fields(
    json_field("calls", &usage_totals::calls),
    json_field("failed", &usage_totals::failed),
    json_field("prompt_tokens", &usage_totals::prompt_tokens),
    json_field("completion_tokens", &usage_totals::completion_tokens),
    json_field("cache_hits", &usage_totals::cache_hits),
    json_field("cost_usd", &usage_totals::cost));
inline constexpr auto usage_summary_fields = json_fields(
    json_field("by_role", &usage_summary::by_role),
    json_field("total", &usage_summary::total));
}  // namespace detail

SELFALIGN_DECL void to_json(nlohmann::json& j, const usage_totals& u) {
  detail::write_json_fields(j, u, detail::usage_totals_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, usage_totals& u) {
  detail::read_json_fields(j, u, detail::usage_totals_fields);
}

SELFALIGN_DECL meter::meter(selfalign::budget b, price_table prices)
    : budget_(std::move(b)), prices_(std::move(prices)), start_(std::chrono::steady_clock::now()) {}

SELFALIGN_DECL result<void> meter::admit(std::int64_t worst_case_tokens) {
  if (interrupt_ && interrupt_->load()) return fail(errc::cancelled, "interrupted");
  std::lock_guard lock(mutex_);
  if (auto why = exhausted_locked()) return fail(errc::budget_exhausted, *why);
  ++reserved_;
  reserved_tokens_ += std::max<std::int64_t>(0, worst_case_tokens);
  return {};
}

SELFALIGN_DECL void meter::record(const std::string& role, const std::string& model, const usage* u, bool failed,
            std::int64_t worst_case_tokens) {
  std::lock_guard lock(mutex_);
  --reserved_;
  reserved_tokens_ -= std::max<std::int64_t>(0, worst_case_tokens);
  const double cost = (!failed && u) ? prices_.cost(model, *u) : 0.0;
  for (usage_totals* t : {&total_, &by_role_[role]}) {
    if (failed) ++t->failed;
    else t->add_answer(u ? *u : usage{}, cost);
  }
}

SELFALIGN_DECL std::optional<std::string> meter::exhausted() const {
  std::lock_guard lock(mutex_);
  return exhausted_locked();
}

SELFALIGN_DECL std::optional<std::string> meter::overspent() const {
  std::lock_guard lock(mutex_);
  const std::int64_t tokens = total_.prompt_tokens + total_.completion_tokens;
  if (budget_.max_tokens && tokens > *budget_.max_tokens)
    return selfalign::detail::format_text("the token budget of {} tokens was exceeded: {} tokens used", *budget_.max_tokens, tokens);
  if (budget_.max_cost && total_.cost > *budget_.max_cost)
    return selfalign::detail::format_text("the cost budget of ${:.4f} was exceeded: ${:.4f} spent", *budget_.max_cost, total_.cost);
  if (budget_.max_calls && total_.calls + total_.failed > *budget_.max_calls)
    return selfalign::detail::format_text("the call budget of {} calls was exceeded: {} calls made", *budget_.max_calls, total_.calls + total_.failed);
  return std::nullopt;
}

SELFALIGN_DECL usage_totals meter::totals() const {
  std::lock_guard lock(mutex_);
  return total_;
}

SELFALIGN_DECL std::map<std::string, usage_totals> meter::by_role() const {
  std::lock_guard lock(mutex_);
  return by_role_;
}

SELFALIGN_DECL std::chrono::milliseconds meter::elapsed() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_);
}

SELFALIGN_DECL std::optional<std::string> meter::exhausted_locked() const {
  // Calls in flight count against the call budget so that concurrency cannot overshoot it.
  if (budget_.max_calls && total_.calls + total_.failed + reserved_ >= *budget_.max_calls)
    return selfalign::detail::format_text("the call budget of {} calls is used up", *budget_.max_calls);
  // Calls in flight hold their worst case against the token budget (see admit()).
  if (budget_.max_tokens && total_.prompt_tokens + total_.completion_tokens + reserved_tokens_ >= *budget_.max_tokens)
    return selfalign::detail::format_text("the token budget of {} tokens is used up", *budget_.max_tokens);
  if (budget_.max_cost && total_.cost >= *budget_.max_cost)
    return selfalign::detail::format_text("the cost budget of ${:.4f} is used up", *budget_.max_cost);
  if (budget_.max_wall_time && elapsed() >= *budget_.max_wall_time)
    return selfalign::detail::format_text("the wall-time budget of {:.1f} s is used up",
                       static_cast<double>(budget_.max_wall_time->count()) / 1000.0);
  return std::nullopt;
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const usage_summary& u) {
  detail::write_json_fields(j, u, detail::usage_summary_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, usage_summary& u) {
  detail::read_json_fields(j, u, detail::usage_summary_fields);
}

SELFALIGN_DECL usage_ledger::usage_ledger(price_table prices, std::map<std::string, std::string> models)
    : prices_(std::move(prices)), models_(std::move(models)) {}

SELFALIGN_DECL void usage_ledger::add(const std::string& role, const usage& u, std::int64_t calls) {
  if (calls <= 0) return;
  const auto model = models_.find(role);
  const double cost = prices_.cost(model == models_.end() ? std::string() : model->second, u);
  std::lock_guard lock(mutex_);
  by_role_[role].add_answer(u, cost, calls);
}

SELFALIGN_DECL void usage_ledger::failed(const std::string& role) {
  std::lock_guard lock(mutex_);
  ++by_role_[role].failed;
}

SELFALIGN_DECL usage_summary usage_ledger::summary() const {
  std::lock_guard lock(mutex_);
  usage_summary s;
  s.by_role = by_role_;
  for (const auto& [role, t] : by_role_) s.total += t;
  return s;
}

SELFALIGN_END_NAMESPACE
