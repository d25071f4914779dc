// selfalign: UTF-8 validation for text read from datasets and written to preference files
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <cstddef>
#include <optional>
#include <string_view>

SELFALIGN_BEGIN_NAMESPACE
namespace io {

/// The byte offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no
/// overlong forms, no surrogates, nothing above U+10FFFF), or nullopt when `s` is valid.
[[nodiscard]] SELFALIGN_DECL std::optional<std::size_t> first_invalid_utf8(std::string_view s) noexcept;

[[nodiscard]] SELFALIGN_DECL bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace io
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/io/impl/utf8.ipp>
#endif
