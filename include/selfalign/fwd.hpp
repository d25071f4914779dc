// selfalign: forward declarations of the vocabulary types, the run kernel and the three algorithms'
// configs and reports, for headers that only name them (a function taking a `const drpo::report&`,
// a member pointer). Like nlohmann's json_fwd.hpp: it includes nothing heavier than <cstdint>,
// and tests/static/fwd_test.cpp checks that every declaration here names the real type.
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <cstdint>

SELFALIGN_BEGIN_NAMESPACE

// result.hpp
enum class errc;
struct error;
class exception;
template <class T>
class result;

// types.hpp
using token_id = std::int32_t;
struct message;
struct prompt;
struct sampling;
struct generation_request;
struct top_logprob;
struct token_logprob;
struct usage;
struct completion;
struct generation;
struct scoring_request;
enum class scoring_boundary;
struct scoring;
struct embedding_request;
struct embeddings;
struct criterion;
struct judge_request;
enum class parse_status;
struct criterion_score;
struct judgement;

// capabilities.hpp, embedding.hpp
struct capabilities;
class hashed_ngram_embedder;

// usage.hpp, run_status.hpp, run_options.hpp, events.hpp
struct price;
struct price_table;
struct budget;
struct usage_totals;
struct usage_summary;
class meter;
class usage_ledger;
struct run_status;
struct run_options;
enum class event_kind;
struct event;

namespace judges {
struct selection_request;
struct aspect_selection;
}  // namespace judges

namespace drpo {
struct config;
struct evaluation;
struct candidate;
struct rejected_proposal;
struct icl_round;
struct icl_trace;
struct report;
}  // namespace drpo

namespace rain {
enum class puct_rule;
enum class stop_rule;
enum class token_mode;
struct config;
struct input;
struct step_stats;
struct statistics;
struct report;
}  // namespace rain

namespace dlma {
enum class negative_margin_policy;
enum class boundary_mode;
enum class boundary_method;
enum class merge_policy;
struct config;
struct continuation_score;
struct preference_pair;
struct pair_failure;
struct margin_summary;
struct report;
}  // namespace dlma

SELFALIGN_END_NAMESPACE
