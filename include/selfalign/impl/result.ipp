// selfalign: definitions for <selfalign/result.hpp> (error messages)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/result.hpp>

#include <string>

SELFALIGN_BEGIN_NAMESPACE

SELFALIGN_DECL std::string error::describe() const {
  std::string out(to_string(code));
  if (http_status != 0) out += " (HTTP " + std::to_string(http_status) + ")";
  out += ": ";
  out += message;
  return out;
}

SELFALIGN_END_NAMESPACE
