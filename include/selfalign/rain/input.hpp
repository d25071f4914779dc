// selfalign: rain::input — what RAIN decodes: the user's query and the text the model continues
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <string>
#include <utility>

SELFALIGN_BEGIN_NAMESPACE
namespace rain {

/// What to decode: the user's query (what the judge sees) and the text the model continues.
struct input {
  std::string query;
  /// The full generation context. Empty: config.preamble + user_prefix + query + assistant_prefix.
  std::string context;

  input() = default;
  input(std::string q) : query(std::move(q)) {}  // NOLINT: implicit, a query is the common case
  input(const char* q) : query(q) {}             // NOLINT
  [[nodiscard]] static input with_context(std::string query, std::string context);
};

}  // namespace rain
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/rain/impl/input.ipp>
#endif
