// selfalign: one error from every OpenAI-compatible server's error body shape (no sockets)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
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
[[nodiscard]] inline std::string json_excerpt(const nlohmann::json& v, std::size_t n = 300) {
  return excerpt(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), n);
}

[[nodiscard]] inline std::string json_scalar_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<unsigned long long>());
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return {};
}

/// Fills message/type/server_code from an error payload, whatever its shape:
///   nested  {"error": {"message", "type", "param", "code": "str" | int | null}}  (OpenAI, vLLM, llama.cpp, Ollama)
///   flat    {"object": "error", "message", "type", "param", "code": int}          (SGLang, old vLLM)
///   string  {"error": "text", "error_type": "text"}                                (TGI)
///   detail  {"detail": "text" | [...]}                                             (FastAPI validation)
/// Returns false when the JSON carries no recognisable error.
inline bool read_error_payload(const nlohmann::json& j, error& e) {
  if (!j.is_object()) return false;
  const nlohmann::json* body = nullptr;
  if (auto it = j.find("error"); it != j.end()) {
    if (it->is_object()) body = &*it;
    else if (it->is_string()) {
      e.message = it->get<std::string>();
      if (auto t = j.find("error_type"); t != j.end()) e.type = json_scalar_text(*t);
      return true;
    } else if (!it->is_null()) {
      e.message = json_excerpt(*it);
      return true;
    }
  }
  if (!body) {
    const auto obj = j.find("object");
    const bool flat = (obj != j.end() && obj->is_string() && obj->get<std::string>() == "error");
    if (flat || (j.contains("message") && (j.contains("type") || j.contains("code")))) body = &j;
  }
  if (body) {
    if (auto m = body->find("message"); m != body->end()) e.message = m->is_string() ? m->get<std::string>() : json_excerpt(*m);
    if (auto t = body->find("type"); t != body->end()) e.type = json_scalar_text(*t);
    if (auto c = body->find("code"); c != body->end()) e.server_code = json_scalar_text(*c);
    if (e.message.empty()) e.message = json_excerpt(*body);
    return true;
  }
  if (auto d = j.find("detail"); d != j.end()) {
    e.message = d->is_string() ? d->get<std::string>() : json_excerpt(*d);
    return true;
  }
  return false;
}

/// The error for a non-2xx HTTP answer. The message is the server's own message when the body
/// has one, else "HTTP <status> from <what>: <first bytes of the body>".
[[nodiscard]] inline error error_from_http(int status, std::string_view body, std::string_view request_id,
                                           std::string_view what) {
  error e(errc_for_status(status), std::string{}, status);
  e.retryable = status_is_retryable(status);
  e.request_id = std::string(request_id);
  // The body is untrusted: the depth-capped reader (a deeply nested `error` must not overflow the
  // stack when it is quoted), tolerant of invalid UTF-8 so that the server's message survives.
  json_read_notes notes;
  auto j = parse_json(body, server_json_options(), &notes);
  if (!j && notes.too_deep) {
    e.message = fmt::format("HTTP {} from {}: the error body is {}", status, what, j.error().message);
    return e;
  }
  if (!j || !read_error_payload(*j, e)) {
    const auto text = trim(body);
    e.message = text.empty() ? fmt::format("HTTP {} from {} with an empty body", status, what)
                             : fmt::format("HTTP {} from {}: {}", status, what, excerpt(text, 300));
  }
  return e;
}

/// An error carried inside a 200 answer or a stream chunk (`data: {"error": ...}`), if any.
[[nodiscard]] inline std::optional<error> error_in_payload(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  const bool flat = j.contains("object") && j["object"].is_string() && j["object"].get<std::string>() == "error";
  if (!j.contains("error") && !flat) return std::nullopt;
  if (auto it = j.find("error"); it != j.end() && it->is_null()) return std::nullopt;
  error e(errc::server_error, std::string{});
  e.retryable = false;  // reported mid-answer: the request itself reached the model
  read_error_payload(j, e);
  // The status in an in-band error's code decides its category when it is an HTTP status.
  int code = 0;
  for (char c : e.server_code) {
    if (c < '0' || c > '9') { code = 0; break; }
    code = code * 10 + (c - '0');
    if (code > 999) break;
  }
  if (code >= 400 && code <= 599) {
    e.code = errc_for_status(code);
    e.http_status = code;
  }
  return e;
}

/// errc::bad_response for a 2xx body that is not what the protocol promises, quoting its start.
[[nodiscard]] inline error bad_body(std::string_view what, std::string_view why, std::string_view body, int status = 200) {
  error e(errc::bad_response,
          fmt::format("{}: {} (body starts: \"{}\")", what, why, excerpt(body, 120)), status);
  e.retryable = false;
  return e;
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
