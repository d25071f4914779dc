// selfalign: the definitions of every non-template function, for separate compilation
// SPDX-License-Identifier: MIT
#pragma once

// Include this header in exactly one translation unit of a program that defines
// SELFALIGN_SEPARATE_COMPILATION in all of its translation units (or link selfalign::compiled,
// whose src/src.cpp does it). In the default header-only mode the headers define these functions
// themselves, so including it would define them twice.
#if !defined(SELFALIGN_SEPARATE_COMPILATION)
#error "<selfalign/src.hpp> is for separate compilation: define SELFALIGN_SEPARATE_COMPILATION in every translation unit, or link selfalign::compiled instead"
#endif

#include <selfalign/config.hpp>

#include <selfalign/impl/json.ipp>
