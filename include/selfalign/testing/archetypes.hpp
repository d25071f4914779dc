// selfalign: archetypes — the smallest models of each concept, compiled and checked so that the
// documentation's exemplars cannot drift (docs/concepts.md copies them)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/judges/aspect_selection.hpp>

#include <span>
#include <string>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace testing::archetypes {

//[generator
struct minimal_generator {
  result<generation> generate(const generation_request& req) {
    generation g;
    g.choices.resize(static_cast<std::size_t>(req.sampling.n));
    return g;
  }
};
//]

//[scoring_generator
struct minimal_scoring_generator : minimal_generator {
  result<scoring> score(const scoring_request&) { return scoring{}; }
};
//]

//[multi_prompt_generator
struct minimal_multi_prompt_generator : minimal_generator {
  result<std::vector<generation>> generate_multi(std::span<const generation_request> reqs) {
    std::vector<generation> out;
    for (const auto& r : reqs) out.push_back(*generate(r));
    return out;
  }
};
//]

//[tokenizer
struct minimal_tokenizer {
  result<std::vector<token_id>> tokenize(std::string_view text, bool) {
    return std::vector<token_id>(text.begin(), text.end());
  }
  result<std::string> detokenize(std::span<const token_id> ids) { return std::string(ids.begin(), ids.end()); }
};
//]

//[embedder
struct minimal_embedder {
  result<embeddings> embed(const embedding_request& req) {
    embeddings e;
    e.vectors.assign(req.texts.size(), std::vector<float>{1.0f});
    return e;
  }
};
//]

//[judge
struct minimal_judge {
  result<judgement> judge(const judge_request&) {
    judgement j;
    j.score = 3.0;
    return j;
  }
};
//]

//[aspect_selector
struct minimal_aspect_selector {
  result<judges::aspect_selection> select(const judges::selection_request&) {
    judges::aspect_selection s;
    s.aspects = {"Helpfulness", "Harmlessness"};
    return s;
  }
};
//]

//[search_problem
struct minimal_search_problem {
  using state_type = int;
  result<int> initial() { return 0; }
  result<std::vector<std::vector<int>>> expand(std::span<const int> states) {
    std::vector<std::vector<int>> out;
    for (int s : states) out.push_back({s + 1, s + 2});
    return out;
  }
  result<std::vector<double>> evaluate(std::span<const int> states) {
    return std::vector<double>(states.begin(), states.end());
  }
  bool is_terminal(const int& s) const { return s >= 10; }
};
//]

//[search_strategy
struct minimal_search_strategy {
  template <SearchProblem P>
  result<search_outcome<typename P::state_type>> search(P& p) {
    auto s = p.initial();
    if (!s) return unexpected(s.error());
    return search_outcome<typename P::state_type>{*s, 0.0, 0, 0, "initial"};
  }
};
//]

static_assert(Generator<minimal_generator>);
static_assert(ScoringGenerator<minimal_scoring_generator>);
static_assert(Tokenizer<minimal_tokenizer>);
static_assert(Embedder<minimal_embedder>);
static_assert(Judge<minimal_judge>);
static_assert(SearchProblem<minimal_search_problem>);
static_assert(SearchStrategy<minimal_search_strategy, minimal_search_problem>);

}  // namespace testing::archetypes
SELFALIGN_END_NAMESPACE
