// selfalign: small string helpers shared by the library (private)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>

#include <string>
#include <string_view>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// Joins a range of string-like items with a separator.
template <class Range>
[[nodiscard]] std::string join(const Range& items, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += sep;
    out += std::string_view(item);
    first = false;
  }
  return out;
}

/// The first `n` bytes of `s`, with "..." when cut; for quoting bodies in error messages.
[[nodiscard]] inline std::string excerpt(std::string_view s, std::size_t n = 200) {
  if (s.size() <= n) return std::string(s);
  // Do not cut inside a UTF-8 sequence.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "...";
}

[[nodiscard]] inline bool starts_with(std::string_view s, std::string_view p) noexcept {
  return s.substr(0, p.size()) == p;
}
[[nodiscard]] inline bool ends_with(std::string_view s, std::string_view p) noexcept {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

/// Removes ASCII whitespace at both ends.
[[nodiscard]] inline std::string_view trim(std::string_view s) noexcept {
  constexpr std::string_view ws = " \t\r\n\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
