// selfalign: retry waits — Retry-After / retry-after-ms parsing and exponential backoff (no sockets)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/options.hpp>
#include <selfalign/detail/prologue.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// Parses an IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT") into seconds since the epoch.
[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> parse_http_date(std::string_view s);

/// The wait a server asked for: `retry-after-ms` (milliseconds, may be fractional) first, then
/// `retry-after` (seconds, possibly fractional, or an HTTP date relative to `now_epoch_s`).
/// Empty when neither header is present or readable.
[[nodiscard]] SELFALIGN_DECL std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view retry_after_ms,
                                                                              std::string_view retry_after,
                                                                              std::int64_t now_epoch_s);

/// The wait before retry number `retry` (0-based): base·2^retry capped at max_backoff, minus up to
/// `jitter` of itself; `unit` in [0,1) is the random draw (passed in so tests are exact).
[[nodiscard]] SELFALIGN_DECL std::chrono::milliseconds backoff_wait(const retry_policy& p, int retry, double unit);

/// What to do after a failed attempt: the wait, or nothing when the server's wait is too long.
struct retry_decision {
  bool retry = false;
  std::chrono::milliseconds wait{0};
};

/// Decides the retry after an HTTP answer with a retryable status. `should_retry` is the
/// `x-should-retry` header ("true"/"false"/"") which overrides the status rule.
[[nodiscard]] SELFALIGN_DECL retry_decision decide_retry(const retry_policy& p, int retries_done, bool retryable,
                                                 std::string_view should_retry,
                                                 std::optional<std::chrono::milliseconds> server_wait, double unit);

}  // namespace detail
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/backends/detail/impl/retry.ipp>
#endif
