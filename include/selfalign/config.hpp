// selfalign: the namespace macros and the version (kept for code that includes it; selfalign's own
// headers include <selfalign/detail/prologue.hpp>, and <selfalign/version.hpp> where they need the
// version)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/version.hpp>
