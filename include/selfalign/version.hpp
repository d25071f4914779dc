// selfalign: the library's version
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#define SELFALIGN_VERSION_MAJOR 0
#define SELFALIGN_VERSION_MINOR 1
#define SELFALIGN_VERSION_PATCH 0
#define SELFALIGN_VERSION_STRING "0.1.0"

SELFALIGN_BEGIN_NAMESPACE
/// The library version as "major.minor.patch"; written into exported provenance.
inline constexpr const char* version_string = SELFALIGN_VERSION_STRING;
SELFALIGN_END_NAMESPACE
