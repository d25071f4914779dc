// selfalign: umbrella header for RAIN (rewindable auto-regressive inference) and its self-evaluation judge
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/judges/self_eval_judge.hpp>
#include <selfalign/rain/config.hpp>
#include <selfalign/rain/decode.hpp>
#include <selfalign/rain/report.hpp>
#include <selfalign/rain/tree.hpp>
