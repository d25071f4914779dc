// selfalign: definitions for <selfalign/backends/detail/retry.hpp> (retry decisions)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/detail/retry.hpp>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> parse_http_date(std::string_view s) {
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto comma = s.find(", ");
  if (comma == std::string_view::npos) return std::nullopt;
  s.remove_prefix(comma + 2);
  if (s.size() < 24) return std::nullopt;  // "21 Oct 2015 07:28:00 GMT"
  auto num = [&](std::size_t pos, std::size_t len) -> int {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const int day = num(0, 2), year = num(7, 4), hh = num(12, 2), mm = num(15, 2), ss = num(18, 2);
  int month = -1;
  for (int i = 0; i < 12; ++i)
    if (s.substr(3, 3) == months[i]) month = i;
  if (day < 1 || year < 1970 || hh < 0 || mm < 0 || ss < 0 || month < 0 || s.substr(21, 3) != "GMT") return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm), so no timegm/locale dependence.
  const int y = year - (month < 2 ? 1 : 0);
  const int era = y / 400;
  const int yoe = y - era * 400;
  const int mp = (month + 10) % 12;  // month is 0-based here
  const int doy = (153 * mp + 2) / 5 + day - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
  return days * 86400 + hh * 3600 + mm * 60 + ss;
}

[[nodiscard]] SELFALIGN_DECL std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view retry_after_ms,
                                                                              std::string_view retry_after,
                                                                              std::int64_t now_epoch_s) {
  auto number = [](std::string_view t) -> std::optional<double> {
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    if (t.empty()) return std::nullopt;
    double v = 0, scale = 0;
    for (char c : t) {
      if (c == '.' && scale == 0) { scale = 1; continue; }
      if (c < '0' || c > '9') return std::nullopt;
      if (scale == 0) v = v * 10 + (c - '0');
      else { scale /= 10; v += (c - '0') * scale; }
    }
    return v;
  };
  // Saturated at about 31,700 years: far beyond any max_retry_after (so such a wait is refused),
  // and inside int64 (llround of 9223372036854775807 is out of range: the fuzzer found it negative).
  constexpr double max_ms = 1e15;
  auto wait_ms = [&](double ms) { return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(std::min(ms, max_ms)))); };
  if (auto ms = number(retry_after_ms)) return wait_ms(*ms);
  if (auto secs = number(retry_after)) return wait_ms(*secs * 1000);
  if (auto date = parse_http_date(retry_after)) {
    const std::int64_t delta = std::max<std::int64_t>(0, *date - now_epoch_s);
    return wait_ms(static_cast<double>(delta) * 1000);
  }
  return std::nullopt;
}

[[nodiscard]] SELFALIGN_DECL std::chrono::milliseconds backoff_wait(const retry_policy& p, int retry, double unit) {
  const double base = static_cast<double>(p.base_backoff.count()) * std::pow(2.0, std::min(retry, 30));
  const double capped = std::min(base, static_cast<double>(p.max_backoff.count()));
  const double jittered = capped * (1.0 - std::clamp(p.jitter, 0.0, 1.0) * std::clamp(unit, 0.0, 1.0));
  return std::chrono::milliseconds(static_cast<std::int64_t>(jittered));
}

[[nodiscard]] SELFALIGN_DECL retry_decision decide_retry(const retry_policy& p, int retries_done, bool retryable,
                                                 std::string_view should_retry,
                                                 std::optional<std::chrono::milliseconds> server_wait, double unit) {
  if (should_retry == "false") return {};
  if (!retryable && should_retry != "true") return {};
  if (retries_done >= p.max_retries) return {};
  if (server_wait) {
    if (*server_wait > p.max_retry_after || server_wait->count() < 0) return {};
    return {true, *server_wait};
  }
  return {true, backoff_wait(p, retries_done, unit)};
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
