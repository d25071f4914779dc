// selfalign: eval — the evaluation protocols of the three papers, with bootstrap intervals
// (pairwise, rubric, harmless, preference, truthful; docs/evaluation.md)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/eval/evaluation.hpp>
#include <selfalign/eval/harmless.hpp>
#include <selfalign/eval/html_report.hpp>
#include <selfalign/eval/pairwise.hpp>
#include <selfalign/eval/pointwise.hpp>
#include <selfalign/eval/preference.hpp>
#include <selfalign/eval/prompts.hpp>
#include <selfalign/eval/rubric.hpp>
#include <selfalign/eval/run.hpp>
#include <selfalign/eval/statistics.hpp>
#include <selfalign/eval/truthful.hpp>
