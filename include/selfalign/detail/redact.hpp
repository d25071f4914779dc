// selfalign: removing secrets (API keys, bearer tokens) from text before it is shown or logged
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

inline constexpr std::string_view redacted_marker = "[redacted]";

/// Whether a header's name says its value is a credential (Authorization, X-Api-Key, ...).
[[nodiscard]] SELFALIGN_DECL bool is_secret_header(std::string_view name);

/// Replaces in `text`:
///  - every occurrence of each secret (secrets shorter than 4 bytes are ignored: they would
///    redact ordinary words);
///  - a tail of the text that is the start of a secret (8 bytes or more, or all of a shorter
///    secret's first half), optionally followed by "...": what is left when a message quoting a
///    key was cut before the key ended;
///  - the credential after every "Bearer " (whatever it is: a key the program does not know, or
///    what remains of a cut one).
/// Returns true when something was replaced.
SELFALIGN_DECL bool redact_secrets(std::string& text, const std::vector<std::string>& secrets);

[[nodiscard]] SELFALIGN_DECL std::string redacted(std::string text, const std::vector<std::string>& secrets);

}  // namespace detail
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/detail/impl/redact.ipp>
#endif
