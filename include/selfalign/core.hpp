// selfalign: umbrella header without HTTP — the vocabulary, concepts, wrappers, judges, search
// strategies, the three algorithms and the I/O helpers (everything but backends/ and testing/)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/any.hpp>
#include <selfalign/batch.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/version.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/events.hpp>
#include <selfalign/fwd.hpp>
#include <selfalign/json.hpp>
#include <selfalign/prompt_template.hpp>
#include <selfalign/result.hpp>
#include <selfalign/run_options.hpp>
#include <selfalign/run_status.hpp>
#include <selfalign/seed.hpp>
#include <selfalign/types.hpp>
#include <selfalign/usage.hpp>
#include <selfalign/wrappers/cached.hpp>
#include <selfalign/wrappers/metered.hpp>
#include <selfalign/wrappers/observed.hpp>

#include <selfalign/judges/aspect_selection.hpp>
#include <selfalign/judges/aspect_selector.hpp>
#include <selfalign/judges/aspects.hpp>
#include <selfalign/judges/dynamic_judge.hpp>
#include <selfalign/judges/rubric_judge.hpp>
#include <selfalign/judges/self_eval_judge.hpp>
#include <selfalign/search/beam.hpp>
#include <selfalign/search/greedy.hpp>
#include <selfalign/search/mcts.hpp>

#include <selfalign/dlma/dlma.hpp>
#include <selfalign/drpo/drpo.hpp>
#include <selfalign/rain/rain.hpp>
#include <selfalign/eval/eval.hpp>

#include <selfalign/io/dataset.hpp>
#include <selfalign/io/json_file.hpp>
#include <selfalign/io/output.hpp>
#include <selfalign/io/preference_export.hpp>
#include <selfalign/io/trace.hpp>
