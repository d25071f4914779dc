// selfalign: small string helpers shared by the library (private)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

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
[[nodiscard]] SELFALIGN_DECL std::string excerpt(std::string_view s, std::size_t n = 200);

[[nodiscard]] SELFALIGN_DECL bool starts_with(std::string_view s, std::string_view p) noexcept;
[[nodiscard]] SELFALIGN_DECL bool ends_with(std::string_view s, std::string_view p) noexcept;

/// Removes ASCII whitespace at both ends.
[[nodiscard]] SELFALIGN_DECL std::string_view trim(std::string_view s) noexcept;

}  // namespace detail
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/detail/impl/strings.ipp>
#endif
