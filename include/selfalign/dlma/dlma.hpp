// selfalign: DLMA umbrella — contrastive prompt pairs, self-rewarding scores, the margin DPO
// loss and export for DPO trainers
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/dlma/boundary.hpp>
#include <selfalign/dlma/build_pairs.hpp>
#include <selfalign/dlma/config.hpp>
#include <selfalign/dlma/export.hpp>
#include <selfalign/dlma/loss.hpp>
#include <selfalign/dlma/make_pair.hpp>
#include <selfalign/dlma/prompts.hpp>
#include <selfalign/dlma/report.hpp>
#include <selfalign/io/preference_validate.hpp>
