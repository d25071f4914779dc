// selfalign: header-only or separately compiled (SELFALIGN_DECL, SELFALIGN_HEADER_ONLY)
// SPDX-License-Identifier: MIT
#pragma once

// By default every non-template function is defined in the headers, as an inline function: each
// header includes its impl/*.ipp at its end. With SELFALIGN_SEPARATE_COMPILATION defined for the
// whole program (the selfalign::compiled CMake target defines it PUBLIC), the headers only declare
// those functions, and exactly one translation unit includes <selfalign/src.hpp>, which defines
// them all once; every other translation unit then skips their bodies and their instantiations.
#if defined(SELFALIGN_SEPARATE_COMPILATION)
#define SELFALIGN_DECL
#else
#define SELFALIGN_DECL inline
#define SELFALIGN_HEADER_ONLY 1
#endif
