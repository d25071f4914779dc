// <selfalign/fwd.hpp> compiles alone and names the real types. This file is left out of the unity
// build (tests/CMakeLists.txt), so fwd.hpp is the first thing its translation unit includes. The
// functions below are declared against the forward declarations only and defined after the real
// headers: a declaration in another namespace, or of another kind (a class for an enum), would
// declare a second entity, and the definitions, the calls or the static_asserts would not compile.
#include <selfalign/fwd.hpp>

namespace fwd_probe {
namespace sa = selfalign;

// Only references, pointers and declarations: the types are incomplete here.
sa::result<void> check(const sa::drpo::config& c);
sa::result<void> check(const sa::rain::config& c);
sa::result<void> check(const sa::dlma::config& c);
const sa::run_status& status_of(const sa::drpo::report& r);
const sa::run_status& status_of(const sa::rain::report& r);
const sa::run_status& status_of(const sa::dlma::report& r);
sa::errc code_of(const sa::error& e);
std::int64_t calls_of(const sa::usage_summary& u);
sa::token_id first_token(const sa::completion& c);

struct views {  // a header that only points at the vocabulary
  const sa::generation_request* request = nullptr;
  const sa::judgement* verdict = nullptr;
  const sa::judges::aspect_selection* selection = nullptr;
  sa::meter* meter = nullptr;
  sa::usage_ledger* ledger = nullptr;
  const sa::event* last_event = nullptr;
};

}  // namespace fwd_probe

#include <doctest/doctest.h>

#include <selfalign/core.hpp>

#include <string>
#include <type_traits>
#include <utility>

namespace fwd_probe {

sa::result<void> check(const sa::drpo::config& c) { return sa::drpo::validate(c); }
sa::result<void> check(const sa::rain::config& c) { return sa::rain::validate(c); }
sa::result<void> check(const sa::dlma::config& c) { return sa::dlma::validate(c); }
const sa::run_status& status_of(const sa::drpo::report& r) { return r.status; }
const sa::run_status& status_of(const sa::rain::report& r) { return r.status; }
const sa::run_status& status_of(const sa::dlma::report& r) { return r.status; }
sa::errc code_of(const sa::error& e) { return e.code; }
std::int64_t calls_of(const sa::usage_summary& u) { return u.total.calls; }
sa::token_id first_token(const sa::completion& c) { return c.token_ids.empty() ? -1 : c.token_ids.front(); }

template <class... T>
inline constexpr bool all_classes = (std::is_class_v<T> && ...) && ((sizeof(T) > 0) && ...);
template <class... T>
inline constexpr bool all_enums = (std::is_enum_v<T> && ...);

// Every forward-declared name is the completed real type.
static_assert(all_classes<sa::error, sa::exception, sa::result<int>, sa::result<void>, sa::message, sa::prompt, sa::sampling,
                          sa::generation_request, sa::top_logprob, sa::token_logprob, sa::usage, sa::completion, sa::generation,
                          sa::scoring_request, sa::scoring, sa::embedding_request, sa::embeddings, sa::criterion,
                          sa::judge_request, sa::criterion_score, sa::judgement, sa::capabilities, sa::hashed_ngram_embedder,
                          sa::price, sa::price_table, sa::budget, sa::usage_totals, sa::usage_summary, sa::meter,
                          sa::usage_ledger, sa::run_status, sa::run_options, sa::event, sa::judges::selection_request,
                          sa::judges::aspect_selection>);
static_assert(all_classes<sa::drpo::config, sa::drpo::evaluation, sa::drpo::candidate, sa::drpo::rejected_proposal,
                          sa::drpo::icl_round, sa::drpo::icl_trace, sa::drpo::report, sa::rain::config, sa::rain::input,
                          sa::rain::step_stats, sa::rain::statistics, sa::rain::report, sa::dlma::config,
                          sa::dlma::continuation_score, sa::dlma::preference_pair, sa::dlma::pair_failure,
                          sa::dlma::margin_summary, sa::dlma::report>);
static_assert(all_enums<sa::errc, sa::scoring_boundary, sa::parse_status, sa::event_kind, sa::rain::puct_rule, sa::rain::stop_rule,
                        sa::rain::token_mode, sa::dlma::negative_margin_policy, sa::dlma::boundary_mode,
                        sa::dlma::boundary_method, sa::dlma::merge_policy>);
static_assert(std::is_same_v<sa::token_id, std::int32_t>);
static_assert(std::is_same_v<decltype(check(std::declval<const sa::rain::config&>())), sa::result<void>>);

}  // namespace fwd_probe

TEST_CASE("fwd.hpp: functions declared against the forward declarations take the real types" * doctest::test_suite("static")) {
  using namespace fwd_probe;
  CHECK(check(sa::drpo::config{}));
  CHECK(check(sa::rain::config{}));
  CHECK(check(sa::dlma::config{}));
  sa::rain::report rep;
  CHECK_FALSE(status_of(rep).complete);
  CHECK(code_of(sa::error(sa::errc::timeout, "slow")) == sa::errc::timeout);
  CHECK(calls_of(sa::usage_summary{}) == 0);
  sa::completion c;
  c.token_ids = {7};
  CHECK(first_token(c) == 7);
  views v;
  CHECK(v.meter == nullptr);
}
