// selfalign: version and namespace macros
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/link.hpp>

#define SELFALIGN_VERSION_MAJOR 0
#define SELFALIGN_VERSION_MINOR 1
#define SELFALIGN_VERSION_PATCH 0
#define SELFALIGN_VERSION_STRING "0.1.0"

// Everything lives in selfalign::v0 so that a future ABI break can live beside it.
#define SELFALIGN_BEGIN_NAMESPACE \
  namespace selfalign {           \
  inline namespace v0 {
#define SELFALIGN_END_NAMESPACE \
  }                             \
  }

SELFALIGN_BEGIN_NAMESPACE
/// The library version as "major.minor.patch"; written into exported provenance.
inline constexpr const char* version_string = SELFALIGN_VERSION_STRING;
SELFALIGN_END_NAMESPACE
