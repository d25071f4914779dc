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

#include <selfalign/detail/prologue.hpp>

#include <selfalign/cache/impl/sha256.ipp>
#include <selfalign/cache/impl/store.ipp>
#include <selfalign/cache/impl/validate.ipp>
#include <selfalign/detail/impl/file_sync.ipp>
#include <selfalign/detail/impl/lenient_json.ipp>
#include <selfalign/detail/impl/redact.ipp>
#include <selfalign/detail/impl/strings.ipp>
#include <selfalign/dlma/impl/export.ipp>
#include <selfalign/dlma/impl/report.ipp>
#include <selfalign/drpo/impl/report.ipp>
#include <selfalign/eval/impl/evaluation.ipp>
#include <selfalign/eval/impl/harmless.ipp>
#include <selfalign/eval/impl/html_report.ipp>
#include <selfalign/eval/impl/pairwise.ipp>
#include <selfalign/eval/impl/pointwise.ipp>
#include <selfalign/eval/impl/preference.ipp>
#include <selfalign/eval/impl/prompts.ipp>
#include <selfalign/eval/impl/rubric.ipp>
#include <selfalign/eval/impl/run.ipp>
#include <selfalign/eval/impl/statistics.ipp>
#include <selfalign/eval/impl/truthful.ipp>
#include <selfalign/impl/capabilities.ipp>
#include <selfalign/impl/events.ipp>
#include <selfalign/impl/json.ipp>
#include <selfalign/impl/json_read.ipp>
#include <selfalign/impl/result.ipp>
#include <selfalign/impl/run_status.ipp>
#include <selfalign/impl/types.ipp>
#include <selfalign/impl/usage.ipp>
#include <selfalign/judges/impl/aspect_selector.ipp>
#include <selfalign/judges/impl/aspects.ipp>
#include <selfalign/judges/impl/rubric_judge.ipp>
#include <selfalign/io/impl/dataset.ipp>
#include <selfalign/io/impl/json_file.ipp>
#include <selfalign/io/impl/output.ipp>
#include <selfalign/io/impl/preference_export.ipp>
#include <selfalign/io/impl/preference_validate.ipp>
#include <selfalign/io/impl/trace.ipp>
#include <selfalign/io/impl/utf8.ipp>
#include <selfalign/rain/impl/input.ipp>
#include <selfalign/rain/impl/report.ipp>

// The HTTP backend's request bodies, response parsing, error and retry handling (no cpp-httplib
// needed): installed with selfalign::openai, compiled here when its headers are present.
#if __has_include(<selfalign/backends/options.hpp>)
#include <selfalign/backends/detail/impl/context.ipp>
#include <selfalign/backends/detail/impl/errors.ipp>
#include <selfalign/backends/detail/impl/retry.ipp>
#include <selfalign/backends/detail/impl/wire.ipp>
#include <selfalign/backends/impl/options.ipp>
#endif
