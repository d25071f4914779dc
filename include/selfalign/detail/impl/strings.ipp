// selfalign: definitions for <selfalign/detail/strings.hpp> (small string helpers shared by the library (private))
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/strings.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace detail {

SELFALIGN_DECL std::string excerpt(std::string_view s, std::size_t n) {
  if (s.size() <= n) return std::string(s);
  // Do not cut inside a UTF-8 sequence.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "...";
}

SELFALIGN_DECL bool starts_with(std::string_view s, std::string_view p) noexcept {
  return s.substr(0, p.size()) == p;
}

SELFALIGN_DECL bool ends_with(std::string_view s, std::string_view p) noexcept {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

SELFALIGN_DECL std::string_view trim(std::string_view s) noexcept {
  constexpr std::string_view ws = " \t\r\n\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
