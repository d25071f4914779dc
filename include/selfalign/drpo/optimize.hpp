// selfalign: drpo::optimize — DRPO's entry points (stage 1: in-context examples; stage 2:
// system-prompt search) and the deployment helper
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/drpo/config.hpp>
#include <selfalign/drpo/detail/engine.hpp>
#include <selfalign/drpo/detail/icl_stage.hpp>
#include <selfalign/drpo/detail/prompt_problem.hpp>
#include <selfalign/drpo/layout.hpp>
#include <selfalign/drpo/report.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/judges/aspect_selector.hpp>
#include <selfalign/judges/rubric_judge.hpp>
#include <selfalign/search/beam.hpp>
#include <selfalign/search/greedy.hpp>
#include <selfalign/search/mcts.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace drpo {

/// The default aspect selector over a Generator (DRPO's metrics model), with the config's
/// selection prompt and catalogue. An lvalue model is borrowed, an rvalue is moved in.
template <class G>
  requires Generator<std::remove_cvref_t<G>>
[[nodiscard]] judges::llm_aspect_selector<G> make_selector(G&& model, const config& cfg = {}) {
  judges::selector_options o;
  o.catalogue = cfg.catalogue;
  o.template_text = cfg.prompts.selection;
  o.sampling.max_tokens = cfg.judge_max_tokens;
  return judges::llm_aspect_selector<G>(std::forward<G>(model), std::move(o));
}

/// The default judge over a Generator (DRPO's eval model): rubric_judge with the config's judge
/// prompt, catalogue and score aggregation. An lvalue model is borrowed, an rvalue is moved in.
template <class G>
  requires Generator<std::remove_cvref_t<G>>
[[nodiscard]] judges::rubric_judge<G> make_judge(G&& model, const config& cfg = {}) {
  judges::rubric_judge_options o;
  o.catalogue = cfg.catalogue;
  o.template_text = cfg.prompts.judge;
  o.sampling.max_tokens = cfg.judge_max_tokens;
  o.aggregation = cfg.score_aggregation;
  return judges::rubric_judge<G>(std::forward<G>(model), std::move(o));
}

/// The beam search the DRPO paper uses, from a config (width, depth, growth, aggregation; with the
/// economical search, the stop after `converged_levels` carried levels).
[[nodiscard]] inline search::beam default_strategy(const config& cfg) {
  return search::beam(search::beam_options{cfg.beam_width, cfg.depth, cfg.max_depth_increase, cfg.aggregation,
                                           cfg.reproduce_original_search ? 0 : cfg.converged_levels});
}

namespace detail {

// Runs `f` with the embedder of `r`: the one the roles point at or, when they point at none, a
// default-constructed E (make_roles without an embedder: a hashed_ngram_embedder). An E that cannot
// be default-constructed is not required to be: with no embedder given, the run is refused.
template <class B, class S, class J, class O, class E, class F>
[[nodiscard]] result<report> with_embedder(const roles<B, S, J, O, E>& r, F&& f) {
  if (r.embedder) return f(*r.embedder);
  if constexpr (std::is_default_constructible_v<E>) {
    E fallback{};
    return f(fallback);
  } else {
    return fail(errc::invalid_argument,
                "drpo: roles.embedder is null and its type cannot be default-constructed; pass the embedder to make_roles");
  }
}

// The strategy's own name() (search::beam: "beam"), or "custom".
template <class Strategy>
std::string strategy_name(const Strategy& strategy) {
  if constexpr (requires { strategy.name(); }) return std::string(strategy.name());
  else return "custom";
}

// How DRPO's problem scores a path: config::aggregation, or when that is automatic, the strategy's
// own aggregation() (the one it ranks by), or mean for a strategy that does not say.
template <class Strategy>
search::reward_aggregation problem_aggregation(const config& cfg, const Strategy& strategy) {
  if (cfg.aggregation != search::reward_aggregation::automatic) return cfg.aggregation;
  if constexpr (requires { { strategy.aggregation() } -> std::convertible_to<search::reward_aggregation>; })
    return strategy.aggregation();
  else return search::reward_aggregation::mean;
}

inline void record_stop(report& rep, const error& e) {
  rep.complete = false;
  rep.error = e;
  if (e.code == errc::budget_exhausted) rep.stop_reason = "budget_exhausted: " + e.message;
  else if (e.code == errc::cancelled) rep.stop_reason = "cancelled: " + e.message;
  else rep.stop_reason = "error: " + e.describe();
}

/// The "strategy" of optimize_examples: stage 1 alone, no system-prompt search.
struct examples_only {};

// Stage 2: the system-prompt search over `queries` with `strategy`; the outcome (or the stop, with
// the best path found so far) goes into `rep`.
template <class B, class S, class J, class O, class E, class Strategy>
void search_stage(engine<B, S, J, O, E>& eng, report& rep, std::vector<std::string> queries, const config& cfg,
                  Strategy& strategy) {
  rep.strategy = strategy_name(strategy);
  if (auto ix = eng.build_index(rep.examples); !ix) {
    record_stop(rep, ix.error());
    return;
  }

  const search::reward_aggregation how = problem_aggregation(cfg, strategy);
  // Candidates that cannot enter the beam are left out only under search::beam ranking paths as
  // this problem scores them; other strategies (mcts backs every child up) see every candidate.
  std::size_t prune_width = 0;
  if constexpr (std::is_same_v<Strategy, search::beam>) {
    if (strategy.aggregation() == how) prune_width = std::max<std::size_t>(1, strategy.options().width);
  }
  if (cfg.reproduce_original_search) prune_width = 0;
  prompt_problem<B, S, J, O, E> problem(eng, std::move(queries), how, prune_width);
  auto outcome = strategy.search(problem);
  if constexpr (requires { strategy.stats(); }) rep.search = strategy.stats();
  rep.rejected = problem.rejected();
  if (outcome) {
    const std::size_t best = outcome->best.path.back();
    rep.best_path = outcome->best.path;
    rep.best_prompt = problem.trace()[best].system_prompt;
    if (!std::isnan(outcome->best_score)) rep.best_score = outcome->best_score;
    rep.stop_reason = outcome->stop_reason;
    rep.complete = true;
  } else {
    record_stop(rep, outcome.error());
    // The best path found so far, by the same aggregation (ties: the earliest candidate).
    if (!problem.trace().empty()) {
      std::size_t best = 0;
      double best_score = problem.path_score(0);
      for (std::size_t id = 1; id < problem.trace().size(); ++id)
        if (search::better(problem.path_score(id), best_score)) {
          best = id;
          best_score = problem.path_score(id);
        }
      rep.best_path = problem.path_of(best);
      rep.best_prompt = problem.trace()[best].system_prompt;
      if (!std::isnan(best_score)) rep.best_score = best_score;
    } else {
      rep.best_prompt = cfg.initial_system_prompt;
    }
  }
  rep.trace = std::move(problem.trace());
}

// One DRPO run: stage 1 when there are seed examples, then stage 2 with `strategy` (unless it is
// examples_only), and the report's accounting.
template <class B, class S, class J, class O, class E, class Strategy>
result<report> run(const roles<B, S, J, O, E>& r, E& embedder, const dataset& data, const config& cfg, Strategy& strategy) {
  constexpr bool stage2 = !std::is_same_v<Strategy, examples_only>;
  if (!r.base || !r.selector || !r.judge || !r.optimizer)
    return fail(errc::invalid_argument, "drpo: every role (base, selector, judge, optimizer) needs a model");
  if (auto v = validate(cfg); !v) return unexpected(v.error());
  std::vector<std::string> queries = data.queries;
  if (queries.size() > cfg.max_training_queries) queries.resize(cfg.max_training_queries);
  if (stage2 && queries.empty()) return fail(errc::invalid_argument, "drpo: stage 2 needs at least one training query");

  const auto t0 = std::chrono::steady_clock::now();
  report rep;
  rep.seed = cfg.seed;
  rep.examples = data.examples;
  rep.best_prompt = cfg.initial_system_prompt;  // until stage 2 finds better
  engine<B, S, J, O, E> eng(r, cfg, embedder);
  auto finish = [&](report& out) -> result<report> {
    out.run_usage = eng.acct().summary();
    out.usage_by_role = out.run_usage.by_role;  // the older fields, kept for their readers
    out.total = out.run_usage.total;
    out.cache_hits = out.total.cache_hits;
    out.status = out.complete ? run_status::completed() : run_status::from(out.error);
    std::tie(out.base_answers, out.base_answers_cut) = eng.base_answer_counts();
    if (out.base_answers >= 4 && 2 * out.base_answers_cut >= out.base_answers)
      eng.emit(event_kind::warning,
               fmt::format("{} of {} base answers ended at max_tokens (finish_reason \"length\"): the judge scored cut-off "
                           "answers; raise base_sampling.max_tokens, or check that the base model's adapter reports "
                           "the end of its answers (docs/adapters.md)",
                           out.base_answers_cut, out.base_answers));
    out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    eng.emit(event_kind::stopped, out.stop_reason);
    return std::move(out);
  };

  if (!data.seed_examples.empty()) {
    if (auto s1 = run_icl_stage(eng, data.seed_examples, rep); !s1) {
      record_stop(rep, s1.error());
      return finish(rep);
    }
  }
  if constexpr (stage2) {
    search_stage(eng, rep, std::move(queries), cfg, strategy);
  } else {
    rep.complete = true;
    rep.stop_reason = "examples optimized";
  }
  return finish(rep);
}

}  // namespace detail

/// Runs DRPO: stage 1 when `data.seed_examples` is not empty (its optimized examples then serve
/// retrieval), then stage 2, the system-prompt search, with `strategy` (e.g. search::beam,
/// search::greedy, search::mcts). Returns an error only for invalid input, before any call; a run
/// stopped by a budget, a cancellation or a failed call returns its partial report with
/// `complete == false`, `stop_reason` and `error` set.
template <class B, class S, class J, class O, class E, class Strategy>
[[nodiscard]] result<report> optimize(const roles<B, S, J, O, E>& r, const dataset& data, const config& cfg, Strategy&& strategy) {
  static_assert(Generator<B>, "drpo::optimize: the base model must be a selfalign::Generator");
  static_assert(judges::AspectSelector<S>, "drpo::optimize: the selector must be a judges::AspectSelector");
  static_assert(Judge<J>, "drpo::optimize: the judge must be a selfalign::Judge");
  static_assert(Generator<O>, "drpo::optimize: the optimizer must be a selfalign::Generator");
  static_assert(Embedder<E>, "drpo::optimize: the embedder must be a selfalign::Embedder");
  using St = std::remove_cvref_t<Strategy>;
  static_assert(SearchStrategy<St, detail::prompt_problem<B, S, J, O, E>>,
                "drpo::optimize: the strategy must be a selfalign::SearchStrategy of DRPO's search problem "
                "(a search(problem) member returning result<search_outcome<state>>), e.g. search::beam");
  St& s = strategy;  // a named strategy keeps its stats(); a temporary works too
  return detail::with_embedder(r, [&](E& e) { return detail::run(r, e, data, cfg, s); });
}

/// Runs DRPO with the paper's beam search built from `cfg`.
template <class B, class S, class J, class O, class E>
[[nodiscard]] result<report> optimize(const roles<B, S, J, O, E>& r, const dataset& data, const config& cfg = {}) {
  auto strategy = default_strategy(cfg);
  return optimize(r, data, cfg, strategy);
}

/// Runs stage 1 only: optimizes the answers of `seed_examples`; the report's `examples` and `icl` hold the result.
template <class B, class S, class J, class O, class E>
[[nodiscard]] result<report> optimize_examples(const roles<B, S, J, O, E>& r, std::vector<icl_example> seed_examples,
                                               const config& cfg = {}) {
  dataset data;
  data.seed_examples = std::move(seed_examples);
  detail::examples_only stage1_only;
  return detail::with_embedder(r, [&](E& e) { return detail::run(r, e, data, cfg, stage1_only); });
}

/// Builds deployment prompts from a report: the optimized system prompt plus the top-k examples
/// for each new query, in the same layout the optimization used (or, with
/// `reproduce_layout_mismatch`, the original's chat layout with k = 3).
template <Embedder E = hashed_ngram_embedder>
class deployment {
 public:
  [[nodiscard]] static result<deployment> create(const report& rep, const config& cfg, E embedder = E{}) {
    deployment d(cfg, std::move(embedder));
    d.system_prompt_ = rep.best_prompt.empty() ? cfg.initial_system_prompt : rep.best_prompt;
    auto idx = example_index::build(rep.examples, d.embedder_, cfg.embedding_model);
    if (!idx) return unexpected(idx.error());
    d.index_ = std::move(*idx);
    return d;
  }

  /// The aligned prompt for `query`.
  [[nodiscard]] result<prompt> prompt_for(std::string_view query) {
    const std::string q(query);
    const std::size_t k = cfg_.reproduce_layout_mismatch ? std::size_t{3} : cfg_.icl_k_inference;
    auto ex = index_.retrieve(std::span<const std::string>(&q, 1), k, embedder_);
    if (!ex) return unexpected(ex.error());
    if (cfg_.reproduce_layout_mismatch) return render_original_inference_prompt(system_prompt_, ex->front(), query, cfg_.layout.wrap_answers);
    return render_aligned_prompt(system_prompt_, ex->front(), query, cfg_.layout);
  }
  /// A ready request: the aligned prompt with the base model's sampling (stop at "<END>").
  [[nodiscard]] result<generation_request> request_for(std::string_view query) {
    auto p = prompt_for(query);
    if (!p) return unexpected(p.error());
    generation_request g;
    g.model = cfg_.base_model;
    g.prompt = std::move(*p);
    g.sampling = cfg_.base_sampling;
    return g;
  }
  [[nodiscard]] const std::string& system_prompt() const noexcept { return system_prompt_; }

 private:
  deployment(const config& cfg, E embedder) : cfg_(cfg), embedder_(std::move(embedder)) {}
  config cfg_;
  E embedder_;
  std::string system_prompt_;
  example_index index_;
};

}  // namespace drpo
SELFALIGN_END_NAMESPACE
