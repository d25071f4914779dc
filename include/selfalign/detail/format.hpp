// selfalign: format_text — fmt::format without the compile-time check of the format string
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <fmt/format.h>

#include <string>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

#if defined(SELFALIGN_CHECK_FORMAT_STRINGS)
/// Checked: fmt::format itself, so that a format string that does not match its arguments fails
/// to compile. selfalign's own builds (tests, CLI, examples, benchmarks) define
/// SELFALIGN_CHECK_FORMAT_STRINGS, so every format string in the library is checked there.
template <class... Args>
[[nodiscard]] std::string format_text(fmt::format_string<const Args&...> f, const Args&... args) {
  return fmt::format(f, args...);
}
#else
/// fmt::format(f, args...), the same text, without fmt's compile-time check of `f`: that check
/// (fmt::format_string<Args...>, a consteval parse of every format string) is a large share of what
/// the library's messages cost each translation unit that includes them. selfalign's own builds
/// check every format string (SELFALIGN_CHECK_FORMAT_STRINGS, above), so users' builds skip it.
template <class... Args>
[[nodiscard]] std::string format_text(fmt::string_view f, const Args&... args) {
  return fmt::vformat(f, fmt::make_format_args(args...));
}
#endif

}  // namespace detail
SELFALIGN_END_NAMESPACE
