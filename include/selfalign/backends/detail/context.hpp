// selfalign: the model's context window — reading its size from each server's discovery answers,
// recognising a context-overflow error in each server's wording, and capping max_tokens (no sockets)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// A positive integer field of a JSON object, if present.
[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> positive_int(const nlohmann::json& j, const char* key);

/// The tokens one request may use (prompt + completion) from llama.cpp's GET /props:
/// default_generation_settings.n_ctx is the context of one slot (-c divided by -np).
[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> context_from_props(const nlohmann::json& props);

/// The same from GET /v1/models: vLLM's and SGLang's `max_model_len`, llama.cpp's `meta.n_ctx`
/// (per slot). For the model `model` when listed, else the first model.
[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> context_from_models(const nlohmann::json& models, const std::string& model);

SELFALIGN_DECL bool contains_text(std::string_view hay, std::string_view needle);

/// Re-labels an HTTP error as errc::context_overflow when the server says the request does not fit
/// its context window (and never retries it: the same request fails again). Recognises
/// llama.cpp's `exceed_context_size_error`, OpenAI's `context_length_exceeded`, vLLM's "maximum
/// context length", SGLang's "exceeds the maximum allowed length" and TGI's "must be <= N" input
/// validation. Returns whether it did.
SELFALIGN_DECL bool classify_context_overflow(error& e);

/// The first integer after `marker` in `text`, if any.
[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> number_after(std::string_view text, std::string_view marker);

/// What a context-overflow answer says about the request: the context size and the prompt's
/// tokens, when the server's message or body tells them (llama.cpp: n_ctx and n_prompt_tokens;
/// vLLM: "maximum context length is N tokens ... (P in the messages" or "has P input tokens").
struct overflow_counts {
  std::optional<std::int64_t> context;
  std::optional<std::int64_t> prompt_tokens;
};
[[nodiscard]] SELFALIGN_DECL overflow_counts parse_overflow_counts(std::string_view body, std::string_view message);

/// max_tokens cut so that prompt + completion fit a context of `context` tokens; 0 when nothing fits.
[[nodiscard]] constexpr std::int64_t fitting_max_tokens(std::int64_t max_tokens, std::int64_t prompt_tokens,
                                                        std::int64_t context) noexcept {
  if (context <= 0) return max_tokens;
  return std::max<std::int64_t>(0, std::min(max_tokens, context - prompt_tokens));
}

}  // namespace detail
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/backends/detail/impl/context.ipp>
#endif
