// selfalign: definitions for <selfalign/backends/detail/errors.hpp> (server errors and bad bodies)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/detail/errors.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

[[nodiscard]] SELFALIGN_DECL std::string json_excerpt(const nlohmann::json& v, std::size_t n) {
  return excerpt(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), n);
}

[[nodiscard]] SELFALIGN_DECL std::string json_scalar_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<unsigned long long>());
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number_float()) return selfalign::detail::format_text("{}", v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return {};
}

SELFALIGN_DECL bool read_error_payload(const nlohmann::json& j, error& e) {
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

[[nodiscard]] SELFALIGN_DECL error error_from_http(int status, std::string_view body, std::string_view request_id,
                                           std::string_view what) {
  error e(errc_for_status(status), std::string{}, status);
  e.retryable = status_is_retryable(status);
  e.request_id = std::string(request_id);
  // The body is untrusted: the depth-capped reader (a deeply nested `error` must not overflow the
  // stack when it is quoted), tolerant of invalid UTF-8 so that the server's message survives.
  json_read_notes notes;
  auto j = parse_json(body, server_json_options(), &notes);
  if (!j && notes.too_deep) {
    e.message = selfalign::detail::format_text("HTTP {} from {}: the error body is {}", status, what, j.error().message);
    return e;
  }
  if (!j || !read_error_payload(*j, e)) {
    const auto text = trim(body);
    e.message = text.empty() ? selfalign::detail::format_text("HTTP {} from {} with an empty body", status, what)
                             : selfalign::detail::format_text("HTTP {} from {}: {}", status, what, excerpt(text, 300));
  }
  return e;
}

[[nodiscard]] SELFALIGN_DECL std::optional<error> error_in_payload(const nlohmann::json& j) {
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

[[nodiscard]] SELFALIGN_DECL error bad_body(std::string_view what, std::string_view why, std::string_view body, int status) {
  error e(errc::bad_response,
          selfalign::detail::format_text("{}: {} (body starts: \"{}\")", what, why, excerpt(body, 120)), status);
  e.retryable = false;
  return e;
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
