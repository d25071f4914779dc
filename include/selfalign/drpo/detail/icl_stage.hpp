// selfalign: DRPO internals — stage 1, in-context example optimization
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/drpo/detail/engine.hpp>
#include <selfalign/drpo/detail/optimizer_io.hpp>
#include <selfalign/prompt_template.hpp>

#include <optional>
#include <string>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace drpo::detail {

/// For each seed pair: judge it, then up to `icl_rounds` times revise with the optimizer and
/// re-judge, keeping the best answer by summed aspect scores (ties go to the later answer, as in
/// the code) and stopping early at a perfect score. All examples advance together, one batch per
/// round, so the examples run concurrently. A request over the model's context
/// (errc::context_overflow) fails its example alone: a judge request gives a round without a total,
/// a revision request ends the example ("context overflow"), keeping its best answer. On any other
/// error `rep` keeps the best answers so far.
template <class B, class S, class J, class O, class E>
[[nodiscard]] result<void> run_icl_stage(engine<B, S, J, O, E>& eng, const std::vector<icl_example>& seeds, report& rep) {
  const config& cfg = eng.cfg();
  const std::size_t n = seeds.size();
  rep.examples = seeds;
  rep.icl.assign(n, {});
  for (std::size_t i = 0; i < n; ++i) {
    rep.icl[i].index = i;
    rep.icl[i].query = seeds[i].query;
    rep.icl[i].seed_answer = seeds[i].answer;
    rep.icl[i].best_answer = seeds[i].answer;
  }
  if (n == 0) return {};
  std::vector<judges::selection_request> sel_reqs;
  for (const auto& s : seeds) sel_reqs.push_back(eng.selection_for(s.query, true));
  auto sel = eng.select(sel_reqs, eng.options().max_concurrency);
  if (!sel) return unexpected(sel.error());

  struct chain {
    std::string current;
    evaluation current_eval;
    std::string best;
    evaluation best_eval;
    std::optional<double> best_total;
    bool active = true;
  };
  std::vector<chain> chains(n);
  auto perfect = [&](const chain& c, std::size_t i) {
    return c.best_total && *c.best_total >= cfg.max_score * static_cast<double>((*sel)[i].aspects.size());
  };
  auto total_of = [](const evaluation& e) -> std::optional<double> {
    if (!e.verdict.ok()) return std::nullopt;
    return sum_scores(e.verdict);
  };

  {
    std::vector<typename engine<B, S, J, O, E>::judge_item> items;
    for (std::size_t i = 0; i < n; ++i)
      items.push_back({seeds[i].query, seeds[i].answer, &(*sel)[i], derive_seed(cfg.seed, "drpo/icl/judge", i, 0), true});
    auto ev = eng.judge(items);
    if (!ev) return unexpected(ev.error());
    for (std::size_t i = 0; i < n; ++i) {
      chain& c = chains[i];
      c.current = c.best = seeds[i].answer;
      c.current_eval = c.best_eval = (*ev)[i];
      c.best_total = total_of((*ev)[i]);
      rep.icl[i].best_total = c.best_total;
      rep.icl[i].rounds.push_back({0, seeds[i].answer, (*ev)[i], c.best_total, true, "seed"});
      if (cfg.icl_skip_perfect_seed && perfect(c, i)) {
        c.active = false;
        rep.icl[i].stop_reason = "perfect seed";
      }
    }
  }

  for (std::size_t round = 1; round <= cfg.icl_rounds; ++round) {
    std::vector<std::size_t> active;
    for (std::size_t i = 0; i < n; ++i)
      if (chains[i].active) active.push_back(i);
    if (active.empty()) break;
    std::vector<generation_request> reqs;
    for (std::size_t i : active) {
      const chain& c = chains[i];
      const bool latest = cfg.icl_revise_from_latest;
      generation_request g;
      g.model = cfg.optimizer_model;
      g.prompt = prompt::chat({message::user(render_validated(cfg.prompts.optimize_answer,
                                                                   {{"query", seeds[i].query},
                                                                    {"answer", latest ? c.current : c.best},
                                                                    {"evaluation", evaluation_text(latest ? c.current_eval : c.best_eval)},
                                                                    {"max_bullets", std::to_string(cfg.icl_max_bullets)}}))});
      g.sampling = cfg.icl_optimizer_sampling;
      g.sampling.n = 1;
      g.sampling.seed = derive_seed(cfg.seed, "drpo/icl/optimizer", i, round);
      reqs.push_back(std::move(g));
    }
    // A revision request over the optimizer's context ends that example alone (its prompt would
    // not shrink in the next round); the others go on.
    auto out = eng.generate_items(generator_role::optimizer, reqs, eng.options().max_concurrency);
    if (!out) return unexpected(out.error());
    std::vector<typename engine<B, S, J, O, E>::judge_item> items;
    std::vector<std::size_t> judged;
    for (std::size_t k = 0; k < active.size(); ++k) {
      const std::size_t i = active[k];
      if (!(*out)[k]) {
        icl_round r;
        r.round = round;
        r.note = "the revision request failed: " + (*out)[k].error().describe();
        rep.icl[i].rounds.push_back(std::move(r));
        rep.icl[i].stop_reason = "context overflow";
        chains[i].active = false;
        continue;
      }
      auto a = read_proposal((*out)[k]->text(), "new_response");
      if (!a) {
        icl_round r;
        r.round = round;
        r.answer = (*out)[k]->text();
        r.note = "unreadable proposal: " + a.error().message;
        rep.icl[i].rounds.push_back(std::move(r));
        continue;
      }
      items.push_back({seeds[i].query, unwrap_answer(std::move(*a)), &(*sel)[i], derive_seed(cfg.seed, "drpo/icl/judge", i, round), true});
      judged.push_back(i);
    }
    auto ev = eng.judge(items);
    if (!ev) return unexpected(ev.error());
    for (std::size_t k = 0; k < judged.size(); ++k) {
      const std::size_t i = judged[k];
      chain& c = chains[i];
      const auto total = total_of((*ev)[k]);
      const bool better = total && (!c.best_total || *total >= *c.best_total);  // [C] ">=": ties go to the newer answer
      c.current = items[k].response;
      c.current_eval = (*ev)[k];
      if (better) {
        c.best = c.current;
        c.best_eval = c.current_eval;
        c.best_total = total;
        rep.icl[i].best_answer = c.best;
        rep.icl[i].best_total = total;
        rep.examples[i].answer = c.best;
      }
      rep.icl[i].rounds.push_back({round, c.current, (*ev)[k], total, better, {}});
      if (perfect(c, i)) {
        c.active = false;
        rep.icl[i].stop_reason = "perfect";
      }
    }
    eng.emit(event_kind::progress, fmt::format("in-context examples: round {} done", round),
             {{"done", static_cast<double>(round)}, {"total", static_cast<double>(cfg.icl_rounds)}});
  }
  for (std::size_t i = 0; i < n; ++i)
    if (rep.icl[i].stop_reason.empty()) rep.icl[i].stop_reason = "rounds";
  return {};
}

}  // namespace drpo::detail
SELFALIGN_END_NAMESPACE
