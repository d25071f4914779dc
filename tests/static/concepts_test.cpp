// Static concept tests: positive and negative archetypes. Everything here is checked at compile
// time; the one runtime case only makes the file a test binary.
#include <doctest/doctest.h>
#include <selfalign/any.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/judges/aspect_selector.hpp>
#include <selfalign/testing/archetypes.hpp>
#include <selfalign/testing/fail_after.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/testing/scripted_judge.hpp>
#include <selfalign/wrappers/cached.hpp>
#include <selfalign/wrappers/metered.hpp>
#include <selfalign/wrappers/observed.hpp>

namespace sa = selfalign;
namespace arch = selfalign::testing::archetypes;

namespace {
struct returns_plain_generation {  // a mock may return a plain value
  sa::generation generate(const sa::generation_request&) { return {}; }
};
struct returns_wrong_type {
  int generate(const sa::generation_request&) { return 0; }
};
struct takes_wrong_argument {
  sa::result<sa::generation> generate(const std::string&) { return sa::generation{}; }
};
struct const_only_generate {
  sa::result<sa::generation> generate(const sa::generation_request&) const { return sa::generation{}; }
};
struct not_movable {
  not_movable() = default;
  not_movable(not_movable&&) = delete;
  sa::result<sa::generation> generate(const sa::generation_request&) { return sa::generation{}; }
};
struct judge_returning_double {
  double judge(const sa::judge_request&) { return 1.0; }
};
struct problem_without_state {
  sa::result<int> initial() { return 0; }
};
}  // namespace

static_assert(sa::Generator<arch::minimal_generator>);
static_assert(sa::Generator<returns_plain_generation>);
static_assert(sa::Generator<const_only_generate>);
static_assert(!sa::Generator<returns_wrong_type>);
static_assert(!sa::Generator<takes_wrong_argument>);
static_assert(!sa::Generator<not_movable>);
static_assert(!sa::Generator<arch::minimal_judge>);
static_assert(!sa::ScoringGenerator<arch::minimal_generator>);
static_assert(sa::ScoringGenerator<arch::minimal_scoring_generator>);
static_assert(!sa::Tokenizer<arch::minimal_generator>);
static_assert(sa::Judge<arch::minimal_judge>);
static_assert(!sa::Judge<judge_returning_double>);
static_assert(sa::Embedder<arch::minimal_embedder> && sa::Embedder<sa::hashed_ngram_embedder>);
static_assert(!sa::SearchProblem<problem_without_state>);
static_assert(sa::SearchStrategy<arch::minimal_search_strategy, arch::minimal_search_problem>);
static_assert(!sa::SearchStrategy<arch::minimal_generator, arch::minimal_search_problem>);

// Wrappers model what they wrap, and only that.
using scripted = sa::testing::scripted_generator;
static_assert(sa::Generator<sa::cached<scripted>> && !sa::ScoringGenerator<sa::cached<scripted>>);
static_assert(sa::ScoringGenerator<sa::cached<arch::minimal_scoring_generator>>);
static_assert(sa::ScoringGenerator<sa::metered<arch::minimal_scoring_generator>>);
static_assert(sa::Judge<sa::observed<sa::testing::scripted_judge>> && !sa::Generator<sa::observed<sa::testing::scripted_judge>>);
static_assert(sa::Generator<sa::observed<sa::cached<sa::metered<scripted>>>>);
static_assert(sa::Generator<sa::testing::fail_after<scripted>>);
static_assert(sa::Generator<sa::cached<scripted&>>);  // wrapping by reference
// Several prompts in one request: every wrapper keeps it when (and only when) its inner model has it.
using multi = arch::minimal_multi_prompt_generator;
static_assert(sa::MultiPromptGenerator<multi> && !sa::MultiPromptGenerator<scripted>);
static_assert(sa::MultiPromptGenerator<sa::cached<multi>> && sa::MultiPromptGenerator<sa::metered<multi>> &&
              sa::MultiPromptGenerator<sa::observed<multi>>);
static_assert(sa::MultiPromptGenerator<sa::observed<sa::cached<sa::metered<multi>>>>);
static_assert(sa::MultiPromptGenerator<sa::cached<multi&>> && sa::MultiPromptGenerator<sa::metered<multi&>>);
static_assert(sa::MultiPromptGenerator<sa::observed<sa::cached<sa::metered<sa::any_generator>>>>);
static_assert(!sa::MultiPromptGenerator<sa::cached<scripted>> && !sa::MultiPromptGenerator<sa::metered<scripted>> &&
              !sa::MultiPromptGenerator<sa::observed<scripted>>);
static_assert(!sa::MultiPromptGenerator<sa::observed<sa::cached<sa::metered<scripted>>>>);
static_assert(sa::MultiPromptGenerator<sa::testing::fail_after<multi>> && !sa::MultiPromptGenerator<sa::testing::fail_after<scripted>>);
// The wrappers' per-request form, which the generate_multi CPO prefers (one result per prompt).
static_assert(requires(sa::metered<multi>& m, std::span<const sa::generation_request> rs, const sa::batch_options& o) {
  { m.generate_multi(rs, o) } -> std::same_as<std::vector<sa::result<sa::generation>>>;
});
static_assert(sa::Generator<sa::any_generator> && sa::ScoringGenerator<sa::any_generator> && sa::Tokenizer<sa::any_generator>);

// AspectSelector: the single form, the batch form, or both; nothing else.
namespace {
struct batch_only_selector {
  std::vector<sa::result<sa::judges::aspect_selection>> select_batch(std::span<const sa::judges::selection_request> r,
                                                                     const sa::batch_options&) {
    return std::vector<sa::result<sa::judges::aspect_selection>>(r.size(), sa::judges::aspect_selection{});
  }
};
struct selector_returning_strings {
  std::vector<std::string> select(const sa::judges::selection_request&) { return {}; }
};
}  // namespace
static_assert(sa::judges::AspectSelector<arch::minimal_aspect_selector>);
static_assert(sa::judges::AspectSelector<batch_only_selector>);
static_assert(sa::judges::AspectSelector<sa::judges::llm_aspect_selector<scripted>>);
static_assert(sa::judges::AspectSelector<sa::judges::llm_aspect_selector<scripted&>>);
static_assert(!sa::judges::AspectSelector<selector_returning_strings>);
static_assert(!sa::judges::AspectSelector<arch::minimal_judge>);
static_assert(std::is_invocable_v<decltype(sa::judges::select_batch), arch::minimal_aspect_selector&,
                                  std::span<const sa::judges::selection_request>, const sa::batch_options&>);
static_assert(!std::is_invocable_v<decltype(sa::judges::select_batch), arch::minimal_judge&,
                                   std::span<const sa::judges::selection_request>, const sa::batch_options&>);
// A wrapped selector is still a selector: metered and observed hook its select() (either form of the
// inner selector); cached does not (no cache key for selections), so it does not pretend to be one.
static_assert(sa::judges::AspectSelector<sa::metered<sa::judges::fixed_aspect_selector>>);
static_assert(sa::judges::AspectSelector<sa::metered<batch_only_selector>>);
static_assert(sa::judges::AspectSelector<sa::observed<arch::minimal_aspect_selector>>);
static_assert(sa::judges::AspectSelector<sa::observed<sa::metered<sa::judges::llm_aspect_selector<scripted>>>>);
static_assert(!sa::judges::AspectSelector<sa::cached<arch::minimal_aspect_selector>>);

TEST_CASE("concept checks compiled" * doctest::test_suite("concepts")) { CHECK(true); }
