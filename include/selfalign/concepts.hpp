// selfalign: the plug points — Generator, ScoringGenerator, Tokenizer, Embedder, Judge,
// SearchProblem and SearchStrategy
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <concepts>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

// Each concept is composed of at most a few named requirements so that a compiler's note points
// at the one expression that is missing ("g.generate(req)"). Full prose: docs/concepts.md.

namespace detail {
template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<result<T>> : std::true_type {};

// The call requirements alone, without move_constructible: type-erasing constructors check these,
// because checking move constructibility of a type whose own constructors accept the erased type
// (a wrapper or a borrowed reference to any_generator) recurses.
template <class G>
concept has_generate = requires(G& g, const generation_request& req) {
  { g.generate(req) } -> std::convertible_to<result<generation>>;
};
template <class J>
concept has_judge = requires(J& j, const judge_request& req) {
  { j.judge(req) } -> std::convertible_to<result<judgement>>;
};
template <class E>
concept has_embed = requires(E& e, const embedding_request& req) {
  { e.embed(req) } -> std::convertible_to<result<embeddings>>;
};

/// Accepts an adapter's answer whether it returned result<T> or a plain T.
template <class T, class U>
[[nodiscard]] result<T> as_result(U&& answer) {
  return result<T>(std::forward<U>(answer));
}
}  // namespace detail

/// A text-generation backend.
///
/// Requirements, for `g` an lvalue of G and `req` a `const generation_request&`:
///   1. G is move constructible.
///   2. `g.generate(req)` returns something convertible to `result<generation>`
///      (a plain `generation` is fine for mocks).
///
/// Semantic rules the compiler cannot check:
///   - the answer holds `req.sampling.n` choices, or an error;
///   - when `req.sampling.logprobs >= 0`, each choice carries one token_logprob per generated token;
///   - `generate` is called from one thread at a time unless the adapter declares more:
///     `capabilities().max_concurrent_calls` (default 1; 0 = any number) bounds the calls in
///     flight inside one adapter object, whatever the algorithms' concurrency settings
///     (docs/adapters.md);
///   - expected failures (HTTP errors, timeouts) are returned as errors, not thrown; exceptions
///     propagate unchanged through selfalign;
///   - `generate` does not keep references to `req` after it returns.
///
/// @code
/// struct echo_model {
///   selfalign::result<selfalign::generation> generate(const selfalign::generation_request& r) {
///     return selfalign::generation{{{r.prompt.flatten()}}};
///   }
/// };
/// static_assert(selfalign::Generator<echo_model>);
/// @endcode
/// @see any_generator, openai_backend, testing::scripted_generator
template <class G>
concept Generator = std::move_constructible<G> &&
    requires(G& g, const generation_request& req) {
      { g.generate(req) } -> std::convertible_to<result<generation>>;
    };

/// A Generator that can also score a given continuation: log p(continuation | prompt).
///
/// Requirements, in addition to Generator, for `s` a `const scoring_request&`:
///   1. `g.score(s)` returns something convertible to `result<scoring>`.
///
/// Semantic rules: `scoring::logprob` is the sum of the continuation's token logprobs and
/// `scoring::tokens` holds one entry per continuation token; the prompt/continuation boundary is
/// exact (token ids when given); `approximate` is set when any term is a bound, not a reading.
/// A backend that cannot score on the configured server returns `errc::unsupported`.
/// @see openai_backend, testing::simulated scoring models (dlma)
template <class G>
concept ScoringGenerator = Generator<G> && requires(G& g, const scoring_request& s) {
  { g.score(s) } -> std::convertible_to<result<scoring>>;
};

/// A Generator that can send several prompts in one request (a list of prompts on
/// `/v1/completions`: vLLM, SGLang, llama.cpp): the optional capability that lets RAIN's
/// self-evaluation ask both option orders at the cost of one request.
///
/// Requirements, in addition to Generator, for `rs` a `std::span<const generation_request>`:
///   1. `g.generate_multi(rs)` returns something convertible to `result<std::vector<generation>>`.
///
/// Semantic rules: the caller (the generate_multi CPO in batch.hpp) only passes requests that
/// differ in their prompt alone (same model and sampling, raw-text or token-id prompts, all of one
/// kind), at most `capabilities().max_prompts` of them; the answer holds one generation per request,
/// in request order, each exactly what `g.generate` would have answered for it (same distribution,
/// same seed); the whole call is one request, so the usages of the answers sum to `requests == 1`.
/// An adapter without the member, or one whose capabilities say `max_prompts == 1`, gets separate
/// requests instead (generate_batch), with the same answers.
/// @see generate_multi, openai_backend, testing::rain_sim_model
template <class G>
concept MultiPromptGenerator = Generator<G> && requires(G& g, std::span<const generation_request> rs) {
  { g.generate_multi(rs) } -> std::convertible_to<result<std::vector<generation>>>;
};

/// Something that maps text to token ids and back with the model's own tokenizer.
///
/// Requirements, for `t` an lvalue of T:
///   1. `t.tokenize(text, add_special)` (a `std::string_view` and a `bool`) returns something
///      convertible to `result<std::vector<token_id>>`;
///   2. `t.detokenize(ids)` (a `std::span<const token_id>`) returns something convertible to
///      `result<std::string>`.
template <class T>
concept Tokenizer = requires(T& t, std::string_view text, bool add_special,
                             std::span<const token_id> ids) {
  { t.tokenize(text, add_special) } -> std::convertible_to<result<std::vector<token_id>>>;
  { t.detokenize(ids) } -> std::convertible_to<result<std::string>>;
};

/// Maps texts to vectors (RAIN's similarity update, DRPO's example retrieval).
///
/// Requirements, for `e` an lvalue of E and `req` a `const embedding_request&`:
///   1. E is move constructible.
///   2. `e.embed(req)` returns something convertible to `result<embeddings>`.
///
/// Semantic rules: one vector per input text, in input order, all of the same dimension.
/// @see any_embedder, hashed_ngram_embedder, openai_backend
template <class E>
concept Embedder = std::move_constructible<E> &&
    requires(E& e, const embedding_request& req) {
      { e.embed(req) } -> std::convertible_to<result<embeddings>>;
    };

/// Scores a response to a query on criteria (DRPO's dynamic reward, RAIN's self-evaluation, a
/// reward model, a classifier).
///
/// Requirements, for `j` an lvalue of J and `req` a `const judge_request&`:
///   1. J is move constructible.
///   2. `j.judge(req)` returns something convertible to `result<judgement>`.
///
/// Semantic rules: an output that cannot be read is a judgement with `parse_status::failed` and
/// no score (or an `errc::parse_failure` error), never an invented number; transport failures
/// are errors.
/// @see any_judge, judges::rubric_judge, testing::scripted_judge
template <class J>
concept Judge = std::move_constructible<J> && requires(J& j, const judge_request& req) {
  { j.judge(req) } -> std::convertible_to<result<judgement>>;
};

/// A Judge with a check to run once before its first call: `j.prepare()` returns
/// `result<void>` and fails (e.g. errc::unsupported) when the judge cannot work with its backend,
/// so an algorithm can stop before spending calls. judges::self_eval_judge has one (it resolves its
/// label tokens); rain::decode calls it. The wrappers (cached, metered, observed) and any_judge
/// forward it, so wrapping a judge never drops the check.
template <class J>
concept PreparableJudge = Judge<J> && requires(J& j) {
  { j.prepare() } -> std::convertible_to<result<void>>;
};

/// A search space for a SearchStrategy: states, how to expand them, how good they are.
///
/// Requirements, for `p` an lvalue of P, `s` a `const P::state_type&` and `batch` a
/// `std::span<const P::state_type>`:
///   1. `P::state_type` names the state type.
///   2. `p.initial()` returns something convertible to `result<state_type>`.
///   3. `p.expand(batch)` returns something convertible to
///      `result<std::vector<std::vector<state_type>>>`: the successors of each state, in order.
///   4. `p.evaluate(batch)` returns something convertible to `result<std::vector<double>>`:
///      one score per state, higher is better.
///   5. `p.is_terminal(s)` returns something convertible to `bool`.
///
/// Semantic rules: expand and evaluate take batches so that a problem can issue its model calls
/// concurrently; both are deterministic functions of their input and the problem's seed.
template <class P>
concept SearchProblem = requires { typename P::state_type; } &&
    requires(P& p, const typename P::state_type& s, std::span<const typename P::state_type> batch) {
      { p.initial() } -> std::convertible_to<result<typename P::state_type>>;
      { p.expand(batch) } -> std::convertible_to<result<std::vector<std::vector<typename P::state_type>>>>;
      { p.evaluate(batch) } -> std::convertible_to<result<std::vector<double>>>;
      { p.is_terminal(s) } -> std::convertible_to<bool>;
    };

/// The outcome of a search: the best state found and its score.
template <class State>
struct search_outcome {
  State best;
  double best_score = 0.0;
  std::size_t expansions = 0;   ///< expand() calls on single states
  std::size_t evaluations = 0;  ///< states evaluated
  std::string stop_reason;      ///< "depth", "terminal", "exhausted", ...
};

/// Searches a SearchProblem.
///
/// Requirements, for `s` an lvalue of S and `p` an lvalue of P:
///   1. P models SearchProblem.
///   2. `s.search(p)` returns something convertible to `result<search_outcome<P::state_type>>`.
///
/// Semantic rules: the search is a deterministic function of the problem's answers; a failed
/// expand or evaluate ends the search with that error.
/// @see search::beam, search::greedy, search::mcts
template <class S, class P>
concept SearchStrategy = SearchProblem<P> && requires(S& s, P& p) {
  { s.search(p) } -> std::convertible_to<result<search_outcome<typename P::state_type>>>;
};

SELFALIGN_END_NAMESPACE
