// selfalign: definitions for <selfalign/eval/rubric.hpp> (eval::rubric — just-eval-style multi-aspect scoring (DRPO's evaluation): each answer)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/eval/rubric.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace eval {

SELFALIGN_DECL std::vector<std::string> just_eval_aspects() {
  return {"Helpfulness", "Clarity", "Factuality", "Depth", "Engagement", "Safety"};
}

}  // namespace eval
SELFALIGN_END_NAMESPACE
