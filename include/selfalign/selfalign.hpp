// selfalign: umbrella header — the core plus the OpenAI-compatible HTTP backend
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/core.hpp>
#include <selfalign/backends/openai.hpp>
