// selfalign: DRPO umbrella — config, roles, report, prompts, layout, entry points
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/drpo/config.hpp>
#include <selfalign/drpo/layout.hpp>
#include <selfalign/drpo/optimize.hpp>
#include <selfalign/drpo/prompts.hpp>
#include <selfalign/drpo/report.hpp>
#include <selfalign/drpo/roles.hpp>
