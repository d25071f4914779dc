// selfalign: definitions for <selfalign/types.hpp> (the vocabulary types every backend, judge and algorithm speaks)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/types.hpp>

SELFALIGN_BEGIN_NAMESPACE

SELFALIGN_DECL std::string prompt::flatten() const {
  if (is_text()) return raw_text();
  if (is_chat()) {
    std::string out;
    for (const auto& m : messages()) {
      if (!out.empty()) out += '\n';
      out += m.content;
    }
    return out;
  }
  std::string out;
  for (token_id id : token_ids()) {
    if (!out.empty()) out += ' ';
    out += std::to_string(id);
  }
  return out;
}

SELFALIGN_DECL const std::string& generation::text() const noexcept {
  static const std::string empty;
  return choices.empty() ? empty : choices.front().text;
}

SELFALIGN_END_NAMESPACE
