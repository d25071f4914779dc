// selfalign: definitions for <selfalign/rain/input.hpp>
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/rain/input.hpp>

SELFALIGN_BEGIN_NAMESPACE
namespace rain {

SELFALIGN_DECL input input::with_context(std::string query, std::string context) {
  input i(std::move(query));
  i.context = std::move(context);
  return i;
}

}  // namespace rain
SELFALIGN_END_NAMESPACE
