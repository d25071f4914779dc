// selfalign: what every selfalign header starts with — the versioned namespace macros and the
// header-only or separately compiled switch (SELFALIGN_DECL)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/link.hpp>

// Everything lives in selfalign::v0 so that a future ABI break can live beside it.
#define SELFALIGN_BEGIN_NAMESPACE \
  namespace selfalign {           \
  inline namespace v0 {
#define SELFALIGN_END_NAMESPACE \
  }                             \
  }
