// selfalign: checks a cached answer before it is replayed, as strictly as a server's answer is
// checked before it is returned (a record `{}` must not become a successful empty answer)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/json.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <string_view>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

SELFALIGN_DECL result<void> cache_invalid(std::string_view why);

SELFALIGN_DECL bool is_finite_number(const nlohmann::json& j);

/// `usage`: non-negative integer counts (a negative or fractional count would defeat a budget).
SELFALIGN_DECL result<void> check_cached_usage(const nlohmann::json& value);

/// Per-token logprobs: a string token and a finite logprob, alternatives likewise.
SELFALIGN_DECL result<void> check_cached_tokens(const nlohmann::json& tokens);

/// generation: between 1 and n choices, each with its text and finish reason.
SELFALIGN_DECL result<void> check_cached_answer(const nlohmann::json& value, const generation_request& req);

/// scoring: a finite logprob and its tokens.
SELFALIGN_DECL result<void> check_cached_answer(const nlohmann::json& value, const scoring_request&);

/// embeddings: one non-empty vector of finite numbers per text.
SELFALIGN_DECL result<void> check_cached_answer(const nlohmann::json& value, const embedding_request& req);

/// judgement: a known status, a finite score when present (and one when the status is not failed).
SELFALIGN_DECL result<void> check_cached_answer(const nlohmann::json& value, const judge_request&);

/// Validates, then converts (a field of the wrong type also makes the record invalid).
template <class T, class Req>
[[nodiscard]] result<T> read_cached_answer(const nlohmann::json& value, const Req& req) {
  if (auto ok = check_cached_answer(value, req); !ok) return unexpected(std::move(ok).error());
  try {
    return value.get<T>();
  } catch (const nlohmann::json::exception& e) {
    return fail(errc::bad_response, e.what());
  } catch (const std::exception& e) {
    return fail(errc::bad_response, e.what());
  }
}

}  // namespace detail
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/cache/impl/validate.ipp>
#endif
