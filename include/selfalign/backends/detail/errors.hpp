// selfalign: one error from every OpenAI-compatible server's error body shape (no sockets)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/json_read.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// The category of an HTTP status, as the retry rules see it.
[[nodiscard]] constexpr errc errc_for_status(int status) noexcept {
  if (status == 408) return errc::timeout;
  if (status == 429) return errc::rate_limited;
  if (status >= 500) return errc::server_error;
  return errc::http_status;
}

/// Whether an HTTP status is worth retrying (408, 409, 429, 5xx), as the OpenAI SDK does.
[[nodiscard]] constexpr bool status_is_retryable(int status) noexcept {
  return status == 408 || status == 409 || status == 429 || status >= 500;
}

/// A value's JSON text cut to `n` bytes, for messages. Only for depth-capped values (parse_json):
/// serialising recurses once per level. Invalid UTF-8 in strings is written as U+FFFD, not thrown.
[[nodiscard]] SELFALIGN_DECL std::string json_excerpt(const nlohmann::json& v, std::size_t n = 300);

[[nodiscard]] SELFALIGN_DECL std::string json_scalar_text(const nlohmann::json& v);

/// Fills message/type/server_code from an error payload, whatever its shape:
///   nested  {"error": {"message", "type", "param", "code": "str" | int | null}}  (OpenAI, vLLM, llama.cpp, Ollama)
///   flat    {"object": "error", "message", "type", "param", "code": int}          (SGLang, old vLLM)
///   string  {"error": "text", "error_type": "text"}                                (TGI)
///   detail  {"detail": "text" | [...]}                                             (FastAPI validation)
/// Returns false when the JSON carries no recognisable error.
SELFALIGN_DECL bool read_error_payload(const nlohmann::json& j, error& e);

/// The error for a non-2xx HTTP answer. The message is the server's own message when the body
/// has one, else "HTTP <status> from <what>: <first bytes of the body>".
[[nodiscard]] SELFALIGN_DECL error error_from_http(int status, std::string_view body, std::string_view request_id,
                                           std::string_view what);

/// An error carried inside a 200 answer or a stream chunk (`data: {"error": ...}`), if any.
[[nodiscard]] SELFALIGN_DECL std::optional<error> error_in_payload(const nlohmann::json& j);

/// errc::bad_response for a 2xx body that is not what the protocol promises, quoting its start.
[[nodiscard]] SELFALIGN_DECL error bad_body(std::string_view what, std::string_view why, std::string_view body, int status = 200);

}  // namespace detail
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/backends/detail/impl/errors.ipp>
#endif
