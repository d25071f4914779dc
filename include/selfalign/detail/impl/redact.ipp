// selfalign: definitions for <selfalign/detail/redact.hpp> (removing secrets (API keys, bearer tokens) from text before it is shown or logged)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/redact.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace detail {

SELFALIGN_DECL bool is_secret_header(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("auth") != std::string::npos || lower.find("key") != std::string::npos ||
         lower.find("token") != std::string::npos || lower.find("secret") != std::string::npos ||
         lower.find("cookie") != std::string::npos;
}

SELFALIGN_DECL bool redact_secrets(std::string& text, const std::vector<std::string>& secrets) {
  bool changed = false;
  for (const auto& s : secrets) {
    if (s.size() < 4) continue;
    for (std::size_t at = text.find(s); at != std::string::npos; at = text.find(s, at + redacted_marker.size())) {
      text.replace(at, s.size(), redacted_marker);
      changed = true;
    }
    // A cut tail: "... Bearer sk-abc12..." holds the first bytes of the key at its end.
    std::string_view body = text;
    std::size_t dots = 0;
    if (body.size() >= 3 && body.substr(body.size() - 3) == "...") dots = 3;
    body.remove_suffix(dots);
    const std::size_t shortest = std::min<std::size_t>(8, (s.size() + 1) / 2);
    for (std::size_t len = std::min(s.size() - 1, body.size()); len >= shortest; --len) {
      if (body.substr(body.size() - len) == std::string_view(s).substr(0, len)) {
        text.replace(body.size() - len, len, redacted_marker);
        changed = true;
        break;
      }
    }
  }
  // "Bearer <credential>": the credential ends at whitespace, a quote or a JSON/HTML delimiter.
  constexpr std::string_view bearer = "Bearer ";
  for (std::size_t at = text.find(bearer); at != std::string::npos; at = text.find(bearer, at + bearer.size())) {
    const std::size_t start = at + bearer.size();
    std::size_t end = start;
    while (end < text.size()) {
      const char c = text[end];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '\'' || c == '\\' || c == ',' || c == '}' ||
          c == ']' || c == '<' || c == ';')
        break;
      ++end;
    }
    if (end == start || std::string_view(text).substr(start, redacted_marker.size()) == redacted_marker) continue;
    text.replace(start, end - start, redacted_marker);
    changed = true;
  }
  return changed;
}

SELFALIGN_DECL std::string redacted(std::string text, const std::vector<std::string>& secrets) {
  redact_secrets(text, secrets);
  return text;
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
