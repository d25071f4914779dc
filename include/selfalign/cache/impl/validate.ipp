// selfalign: definitions for <selfalign/cache/validate.hpp> (checks a cached answer before it is replayed, as strictly as a server's answer is)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/cache/validate.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace detail {

SELFALIGN_DECL result<void> cache_invalid(std::string_view why) { return fail(errc::bad_response, std::string(why)); }

SELFALIGN_DECL bool is_finite_number(const nlohmann::json& j) { return j.is_number() && std::isfinite(j.get<double>()); }

SELFALIGN_DECL result<void> check_cached_usage(const nlohmann::json& value) {
  auto it = value.find("usage");
  if (it == value.end()) return {};
  if (!it->is_object()) return cache_invalid("`usage` is not an object");
  for (const char* f : {"prompt_tokens", "completion_tokens", "cached_prompt_tokens", "requests"}) {
    auto v = it->find(f);
    if (v == it->end()) continue;
    if (!v->is_number_integer() || (v->is_number_integer() && !v->is_number_unsigned() && v->get<std::int64_t>() < 0))
      return cache_invalid(selfalign::detail::format_text("usage.{} is not a non-negative integer", f));
  }
  if (auto v = it->find("from_cache"); v != it->end() && !v->is_boolean()) return cache_invalid("usage.from_cache is not a boolean");
  return {};
}

SELFALIGN_DECL result<void> check_cached_tokens(const nlohmann::json& tokens) {
  if (!tokens.is_array()) return cache_invalid("`tokens` is not an array");
  for (const auto& t : tokens) {
    if (!t.is_object()) return cache_invalid("a token is not an object");
    auto tok = t.find("token");
    auto lp = t.find("logprob");
    if (tok == t.end() || !tok->is_string()) return cache_invalid("a token has no string `token`");
    if (lp == t.end() || !is_finite_number(*lp)) return cache_invalid("a token has no finite `logprob`");
    if (auto top = t.find("top"); top != t.end()) {
      if (!top->is_array()) return cache_invalid("a token's `top` is not an array");
      for (const auto& a : *top) {
        if (!a.is_object() || !a.contains("token") || !a["token"].is_string() || !a.contains("logprob") || !is_finite_number(a["logprob"]))
          return cache_invalid("an alternative token has no string `token` or no finite `logprob`");
      }
    }
  }
  return {};
}

SELFALIGN_DECL result<void> check_cached_answer(const nlohmann::json& value, const generation_request& req) {
  if (!value.is_object()) return cache_invalid("the answer is not an object");
  auto choices = value.find("choices");
  if (choices == value.end() || !choices->is_array()) return cache_invalid("the answer has no `choices` array");
  if (choices->empty()) return cache_invalid("the answer has no choices");
  const std::size_t n = static_cast<std::size_t>(req.sampling.n < 1 ? 1 : req.sampling.n);
  if (choices->size() > n) return cache_invalid(selfalign::detail::format_text("the answer has {} choices for n = {}", choices->size(), n));
  for (const auto& c : *choices) {
    if (!c.is_object()) return cache_invalid("a choice is not an object");
    if (!c.contains("text") || !c["text"].is_string()) return cache_invalid("a choice has no string `text`");
    if (!c.contains("finish_reason") || !c["finish_reason"].is_string()) return cache_invalid("a choice has no string `finish_reason`");
    if (auto t = c.find("tokens"); t != c.end())
      if (auto r = check_cached_tokens(*t); !r) return r;
    if (auto ids = c.find("token_ids"); ids != c.end()) {
      if (!ids->is_array()) return cache_invalid("a choice's `token_ids` is not an array");
      for (const auto& id : *ids)
        if (!id.is_number_integer()) return cache_invalid("a choice's `token_ids` holds a non-integer");
    }
  }
  if (auto m = value.find("model"); m != value.end() && !m->is_string()) return cache_invalid("`model` is not a string");
  return check_cached_usage(value);
}

SELFALIGN_DECL result<void> check_cached_answer(const nlohmann::json& value, const scoring_request&) {
  if (!value.is_object()) return cache_invalid("the answer is not an object");
  auto lp = value.find("logprob");
  if (lp == value.end() || !is_finite_number(*lp)) return cache_invalid("the answer has no finite `logprob`");
  auto toks = value.find("tokens");
  if (toks == value.end()) return cache_invalid("the answer has no `tokens`");
  if (auto r = check_cached_tokens(*toks); !r) return r;
  if (auto a = value.find("approximate"); a != value.end() && !a->is_boolean()) return cache_invalid("`approximate` is not a boolean");
  return check_cached_usage(value);
}

SELFALIGN_DECL result<void> check_cached_answer(const nlohmann::json& value, const embedding_request& req) {
  if (!value.is_object()) return cache_invalid("the answer is not an object");
  auto vs = value.find("vectors");
  if (vs == value.end() || !vs->is_array()) return cache_invalid("the answer has no `vectors` array");
  if (vs->size() != req.texts.size())
    return cache_invalid(selfalign::detail::format_text("the answer has {} vectors for {} texts", vs->size(), req.texts.size()));
  for (const auto& v : *vs) {
    if (!v.is_array() || v.empty()) return cache_invalid("a vector is empty or not an array");
    for (const auto& x : v)
      if (!is_finite_number(x)) return cache_invalid("a vector holds a non-finite value");
  }
  return check_cached_usage(value);
}

SELFALIGN_DECL result<void> check_cached_answer(const nlohmann::json& value, const judge_request&) {
  if (!value.is_object()) return cache_invalid("the answer is not an object");
  auto st = value.find("status");
  if (st == value.end() || !st->is_string()) return cache_invalid("the judgement has no string `status`");
  const auto& s = st->get_ref<const std::string&>();
  if (s != "ok" && s != "repaired" && s != "failed") return cache_invalid(selfalign::detail::format_text("unknown judgement status '{}'", s));
  auto sc = value.find("score");
  const bool has_score = sc != value.end() && !sc->is_null();
  if (has_score && !is_finite_number(*sc)) return cache_invalid("the judgement's `score` is not a finite number");
  if (s != "failed" && !has_score) return cache_invalid("a judgement that did not fail has no score");
  if (auto c = value.find("criteria"); c != value.end()) {
    if (!c->is_array()) return cache_invalid("`criteria` is not an array");
    for (const auto& x : *c)
      if (!x.is_object() || !x.contains("score") || !is_finite_number(x["score"])) return cache_invalid("a criterion has no finite score");
  }
  if (auto a = value.find("attempts"); a != value.end() && (!a->is_number_integer() || a->get<std::int64_t>() < 0))
    return cache_invalid("`attempts` is not a non-negative integer");
  return check_cached_usage(value);
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
