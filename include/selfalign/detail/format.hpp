// selfalign: format_text — fmt::format without the compile-time check of the format string
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>

#include <fmt/format.h>

#include <string>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// fmt::format(f, args...), the same text, without fmt's compile-time check of `f`: that check
/// (fmt::format_string<Args...>, a consteval parse of every format string) is a large share of what
/// the library's messages cost each translation unit that includes them, and the tests pin every
/// message. A wrong format string throws fmt::format_error at run time instead.
template <class... Args>
[[nodiscard]] std::string format_text(fmt::string_view f, const Args&... args) {
  return fmt::vformat(f, fmt::make_format_args(args...));
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
