// selfalign: errc, error, exception and result<T> (a small std::expected for C++20)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

// fmt/core.h, not fmt/format.h: the errc formatter below needs only formatter<string_view>.
#include <fmt/core.h>

#include <cassert>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

SELFALIGN_BEGIN_NAMESPACE

/// What went wrong, in categories a caller can act on.
enum class errc {
  invalid_argument = 1,  ///< the request or configuration is wrong; fix the caller
  unsupported,           ///< the backend cannot do this (no scoring, no token-id prompts, ...)
  transport,             ///< connection refused, reset, DNS failure, TLS failure
  timeout,               ///< a connect/read/write timeout or the call's deadline passed
  http_status,           ///< the server answered with a non-retryable HTTP error (4xx)
  rate_limited,          ///< HTTP 429 (after retries)
  server_error,          ///< HTTP 5xx (after retries)
  bad_response,          ///< a body that is not what the protocol promises (truncated, not JSON)
  parse_failure,         ///< model output that is not in the requested format (e.g. judge JSON)
  budget_exhausted,      ///< a metered budget (calls, tokens, cost, wall time) ran out
  cancelled,             ///< the caller cancelled the call or the batch
  io,                    ///< a file could not be read or written
  internal,              ///< a bug in selfalign; please report it
  /// The prompt (plus max_tokens, on servers that count it) does not fit the model's context
  /// window: llama.cpp's HTTP 400 `exceed_context_size_error`, vLLM's "maximum context length",
  /// OpenAI's `context_length_exceeded`, SGLang's and TGI's length errors. Never retryable: the
  /// same request fails again. An algorithm treats it as a failed item (record the error, go on),
  /// not as the end of a run. (Appended last so that the values of the codes above do not move.)
  context_overflow,
};

/// The stable lower-case name of an errc ("rate_limited").
[[nodiscard]] constexpr std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::invalid_argument: return "invalid_argument";
    case errc::unsupported: return "unsupported";
    case errc::transport: return "transport";
    case errc::timeout: return "timeout";
    case errc::http_status: return "http_status";
    case errc::rate_limited: return "rate_limited";
    case errc::server_error: return "server_error";
    case errc::bad_response: return "bad_response";
    case errc::parse_failure: return "parse_failure";
    case errc::budget_exhausted: return "budget_exhausted";
    case errc::cancelled: return "cancelled";
    case errc::io: return "io";
    case errc::internal: return "internal";
    case errc::context_overflow: return "context_overflow";
  }
  return "unknown";
}

/// Parses the name produced by to_string; returns false for an unknown name.
[[nodiscard]] constexpr bool from_string(std::string_view s, errc& out) noexcept {
  for (int i = static_cast<int>(errc::invalid_argument); i <= static_cast<int>(errc::context_overflow);
       ++i) {
    if (to_string(static_cast<errc>(i)) == s) {
      out = static_cast<errc>(i);
      return true;
    }
  }
  return false;
}

/// Whether a retry of the same call could succeed, judged from the category alone.
[[nodiscard]] constexpr bool retryable_by_default(errc e) noexcept {
  return e == errc::transport || e == errc::timeout || e == errc::rate_limited ||
         e == errc::server_error;
}

/// A failed call: category, a message for humans, and what the server said when there was one.
struct error {
  errc code = errc::internal;
  std::string message;
  int http_status = 0;     ///< HTTP status when the failure came from an HTTP answer, else 0
  bool retryable = false;  ///< whether repeating the same call may succeed
  std::string type;        ///< the server's error type ("invalid_request_error"), if any
  std::string server_code; ///< the server's error code, as text ("invalid_api_key", "400")
  std::string request_id;  ///< the server's request id (x-request-id), if any

  error() = default;
  error(errc c, std::string msg) : code(c), message(std::move(msg)), retryable(retryable_by_default(c)) {}
  error(errc c, std::string msg, int status)
      : code(c), message(std::move(msg)), http_status(status), retryable(retryable_by_default(c)) {}

  /// "rate_limited (HTTP 429): slow down" — the form used in logs and CLI messages.
  [[nodiscard]] SELFALIGN_DECL std::string describe() const;
  friend bool operator==(const error& a, const error& b) noexcept {
    return a.code == b.code && a.message == b.message && a.http_status == b.http_status;
  }
};

/// Thrown by result<T>::value() when the result holds an error; carries that error.
class exception : public std::runtime_error {
 public:
  explicit exception(selfalign::error e) : std::runtime_error(e.describe()), error_(std::move(e)) {}
  [[nodiscard]] const selfalign::error& error() const noexcept { return error_; }
  [[nodiscard]] errc code() const noexcept { return error_.code; }

 private:
  selfalign::error error_;
};

/// Wraps an error so that it converts to any result<T> (as std::unexpected does).
struct unexpected {
  selfalign::error value;
  explicit unexpected(selfalign::error e) : value(std::move(e)) {}
  unexpected(errc c, std::string msg) : value(c, std::move(msg)) {}
};

/// A value of type T or an error. Member names follow std::expected.
template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference_v<T>, "result<T&> is not supported");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, selfalign::error>, "result<error> is ambiguous");

 public:
  using value_type = T;
  using error_type = selfalign::error;

  result()
    requires std::is_default_constructible_v<T>
      : v_(std::in_place_index<0>) {}
  template <class U = T>
    requires(std::is_constructible_v<T, U &&> &&
             !std::is_same_v<std::remove_cvref_t<U>, result> &&
             !std::is_same_v<std::remove_cvref_t<U>, unexpected> &&
             !std::is_same_v<std::remove_cvref_t<U>, std::in_place_t>)
  // Implicit only where U converts implicitly to T (as std::expected): a judge returning a plain
  // double must not silently become a judgement through aggregate initialization.
  explicit(!std::is_convertible_v<U&&, T>) result(U&& v) : v_(std::in_place_index<0>, std::forward<U>(v)) {}
  template <class... Args>
  explicit result(std::in_place_t, Args&&... args)
      : v_(std::in_place_index<0>, std::forward<Args>(args)...) {}
  result(unexpected u) : v_(std::in_place_index<1>, std::move(u.value)) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& operator*() & noexcept { assert(has_value()); return *std::get_if<0>(&v_); }
  const T& operator*() const& noexcept { assert(has_value()); return *std::get_if<0>(&v_); }
  T&& operator*() && noexcept { assert(has_value()); return std::move(*std::get_if<0>(&v_)); }
  T* operator->() noexcept { assert(has_value()); return std::get_if<0>(&v_); }
  const T* operator->() const noexcept { assert(has_value()); return std::get_if<0>(&v_); }

  T& value() & { throw_if_error(); return *std::get_if<0>(&v_); }
  const T& value() const& { throw_if_error(); return *std::get_if<0>(&v_); }
  T&& value() && { throw_if_error(); return std::move(*std::get_if<0>(&v_)); }

  [[nodiscard]] const selfalign::error& error() const& noexcept { assert(!has_value()); return *std::get_if<1>(&v_); }
  [[nodiscard]] selfalign::error& error() & noexcept { assert(!has_value()); return *std::get_if<1>(&v_); }
  [[nodiscard]] selfalign::error&& error() && noexcept { assert(!has_value()); return std::move(*std::get_if<1>(&v_)); }

  template <class U>
  [[nodiscard]] T value_or(U&& fallback) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  [[nodiscard]] T value_or(U&& fallback) && {
    return has_value() ? std::move(**this) : static_cast<T>(std::forward<U>(fallback));
  }

  /// f(T) -> result<U>; an error passes through unchanged.
  template <class F>
  auto and_then(F&& f) const& -> std::invoke_result_t<F, const T&> {
    if (!has_value()) return unexpected(error());
    return std::forward<F>(f)(**this);
  }
  template <class F>
  auto and_then(F&& f) && -> std::invoke_result_t<F, T&&> {
    if (!has_value()) return unexpected(std::move(*this).error());
    return std::forward<F>(f)(std::move(**this));
  }
  /// f(T) -> U; wraps the value, passes an error through.
  template <class F>
  auto transform(F&& f) const& -> result<std::invoke_result_t<F, const T&>> {
    if (!has_value()) return unexpected(error());
    return std::forward<F>(f)(**this);
  }
  template <class F>
  auto transform(F&& f) && -> result<std::invoke_result_t<F, T&&>> {
    if (!has_value()) return unexpected(std::move(*this).error());
    return std::forward<F>(f)(std::move(**this));
  }
  /// f(error) -> result<T>; a value passes through.
  template <class F>
  result or_else(F&& f) const& {
    if (has_value()) return *this;
    return std::forward<F>(f)(error());
  }

 private:
  void throw_if_error() const {
    if (!has_value()) throw exception(*std::get_if<1>(&v_));
  }
  std::variant<T, selfalign::error> v_;
};

/// result<void>: success or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  using error_type = selfalign::error;
  result() = default;
  result(unexpected u) : e_(std::move(u.value)), ok_(false) {}  // NOLINT
  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const {
    if (!ok_) throw exception(e_);
  }
  [[nodiscard]] const selfalign::error& error() const& noexcept { assert(!ok_); return e_; }
  [[nodiscard]] selfalign::error&& error() && noexcept { assert(!ok_); return std::move(e_); }

 private:
  selfalign::error e_;
  bool ok_ = true;
};

/// Shorthand: `return fail(errc::unsupported, "...");`
[[nodiscard]] inline unexpected fail(errc code, std::string message) {
  return unexpected(selfalign::error(code, std::move(message)));
}

SELFALIGN_END_NAMESPACE

/// fmt support: `fmt::format("{}", errc::timeout)` prints "timeout". (A formatter specialization
/// rather than format_as, which fmt 9 — Debian 12's — does not know.)
template <>
struct fmt::formatter<selfalign::errc> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(selfalign::errc e, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(selfalign::to_string(e), ctx);
  }
};

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/impl/result.ipp>
#endif
