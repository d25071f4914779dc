// selfalign: DRPO internals — stage 2 (the system-prompt search) as a SearchProblem: a state is a
// path of candidates, and expanding a level runs four phases (propose, dedup, respond, assess)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/drpo/config.hpp>
#include <selfalign/drpo/detail/engine.hpp>
#include <selfalign/drpo/detail/optimizer_io.hpp>
#include <selfalign/drpo/report.hpp>
#include <selfalign/judges/aspect_selector.hpp>
#include <selfalign/prompt_template.hpp>
#include <selfalign/search/common.hpp>
#include <selfalign/seed.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace drpo {
namespace detail {

/// Stage 2 as a SearchProblem: a state is a path of candidate ids (the trace holds the data).
template <class B, class S, class J, class O, class E>
class prompt_problem {
 public:
  struct state_type {
    std::vector<std::size_t> path;
    friend bool operator==(const state_type&, const state_type&) = default;
  };

  /// `prune_width`: the beam width candidates are pruned against (0: evaluate every candidate).
  prompt_problem(engine<B, S, J, O, E>& eng, std::vector<std::string> queries, search::reward_aggregation how,
                 std::size_t prune_width = 0)
      : eng_(eng), cfg_(eng.cfg()), queries_(std::move(queries)), how_(how), prune_width_(prune_width),
        reuse_(!eng.cfg().reproduce_original_search) {}

  [[nodiscard]] const std::vector<candidate>& trace() const noexcept { return trace_; }
  [[nodiscard]] std::vector<candidate>& trace() noexcept { return trace_; }
  [[nodiscard]] const std::vector<rejected_proposal>& rejected() const noexcept { return rejected_; }

  [[nodiscard]] result<state_type> initial() {
    if (!trace_.empty()) return state_type{{0}};
    const std::string& q = queries_.front();
    std::vector<judges::selection_request> sel_reqs{eng_.selection_for(q, false)};
    auto sel = eng_.select(sel_reqs, 1);
    if (!sel) return unexpected(sel.error());
    if (auto r = eng_.prefetch_examples({q}, cfg_.icl_k); !r) return unexpected(r.error());
    auto gen = eng_.generate_items(generator_role::base, {eng_.base_request(cfg_.initial_system_prompt, q, seed("drpo/base", 0, 0, 0, 0))}, 1);
    if (!gen) return unexpected(gen.error());
    candidate c;
    c.id = 0;
    c.origin = "initial";
    c.system_prompt = cfg_.initial_system_prompt;
    c.query_index = 0;
    c.query = q;
    if (!gen->front()) {
      c.eval = eng_.failed_evaluation(sel->front(), gen->front().error(), "the base answer");
    } else {
      c.response = std::string(selfalign::detail::trim(gen->front()->text()));
      auto ev = eng_.judge({{q, c.response, &sel->front(), seed("drpo/judge", 0, 0, 0, 0), false}});
      if (!ev) return unexpected(ev.error());
      c.eval = std::move(ev->front());
    }
    trace_.push_back(std::move(c));
    remember(trace_[0]);
    if (const double ps = path_score(0); !std::isnan(ps)) trace_[0].path_score = ps;
    eng_.emit(event_kind::search_step, "initial prompt evaluated", {{"level", 0}, {"reward", reward_or_nan(trace_[0])}});
    return state_type{{0}};
  }

  [[nodiscard]] bool is_terminal(const state_type& s) const { return s.path.size() >= queries_.size(); }

  /// [C] carried forward unchanged: the judgement was unreadable, every aspect scored the maximum,
  /// or the mean is above the skip threshold.
  [[nodiscard]] bool skips(const state_type& s) const {
    const candidate& last = trace_[s.path.back()];
    const judgement& v = last.eval.verdict;
    if (!v.ok()) return true;
    bool all_max = !v.criteria.empty();
    for (const auto& c : v.criteria) all_max = all_max && c.score >= cfg_.max_score;
    return all_max || *last.eval.reward > cfg_.skip_threshold;
  }

  [[nodiscard]] result<std::vector<double>> evaluate(std::span<const state_type> states) const {
    std::vector<double> out;
    for (const auto& s : states) out.push_back(step_reward(trace_[s.path.back()]));
    return out;
  }

  void level_done(std::size_t level, std::span<const state_type> kept, std::span<const double> scores) {
    double best = std::numeric_limits<double>::quiet_NaN();
    for (std::size_t i = 0; i < kept.size(); ++i) {
      candidate& c = trace_[kept[i].path.back()];
      c.kept = true;
      if (search::better(scores[i], best)) best = scores[i];
    }
    eng_.emit(event_kind::search_step, fmt::format("level {} done", level),
              {{"level", static_cast<double>(level)}, {"best_path_score", best}, {"candidates", static_cast<double>(trace_.size())}});
  }

  /// One level of the search, in four phases: propose (the optimizer rewrites each state's prompt,
  /// while the selector picks the aspects of the level's queries), dedup (a prompt proposed twice at
  /// a level is evaluated once), respond (the base model answers each candidate's query) and assess
  /// (the judge scores the answers; the candidates become children). The original evaluates the
  /// whole level at once; with pruning the states go one by one, best first, and a state's
  /// candidates are left out once `prune_width_` candidates of the level score at least the best
  /// path score they could reach.
  [[nodiscard]] result<std::vector<std::vector<state_type>>> expand(std::span<const state_type> batch) {
    auto level = propose(batch);
    if (!level) return unexpected(level.error());
    dedup(batch, level->proposals);
    std::map<std::string, const judges::aspect_selection*> selection_of;
    for (std::size_t i = 0; i < level->queries.size(); ++i) selection_of[level->queries[i]] = &level->selections[i];

    if (auto r = eng_.prefetch_examples(level->queries, cfg_.icl_k); !r) return unexpected(r.error());
    const std::size_t nb = batch.size();
    std::vector<std::vector<state_type>> children(nb);
    std::vector<double> level_scores;  // path scores of this level's evaluated candidates
    const std::size_t rung = prune_width_ > 0 ? 1 : nb;
    for (std::size_t from = 0; from < nb; from += rung) {
      std::vector<slot> slots;
      for (std::size_t b = from; b < std::min(nb, from + rung); ++b) {
        if (pruned(batch[b], level->proposals[b], level_scores)) continue;
        for (const auto& p : level->proposals[b]) slots.push_back({b, p});
      }
      auto answers = respond(batch, slots);
      if (!answers) return unexpected(answers.error());
      if (auto r = assess(batch, slots, *answers, selection_of, children, level_scores); !r) return unexpected(r.error());
    }
    return children;
  }

  /// The path score of every candidate, by the same aggregation the strategy uses (for partial reports).
  [[nodiscard]] double path_score(std::size_t id) const {
    std::vector<double> rewards = rewards_along(id);
    if (rewards.empty()) return step_reward(trace_[0]);
    return search::aggregate(rewards, how_);
  }
  [[nodiscard]] std::vector<std::size_t> path_of(std::size_t id) const {
    std::vector<std::size_t> p;
    for (std::optional<std::size_t> k = id; k; k = trace_[*k].parent) p.push_back(*k);
    std::reverse(p.begin(), p.end());
    return p;
  }

 private:
  // A system prompt proposed for a state: by the optimizer ("proposed", the index of its choice),
  // or the state's own prompt carried forward ("carried" when the state skips the optimizer,
  // "fallback" when no proposal was readable).
  struct proposal {
    std::string prompt;
    std::string origin;
    std::size_t candidate_index;
  };
  // A candidate to evaluate: a proposal for the state batch[b].
  struct slot {
    std::size_t b;
    proposal p;
  };
  // What propose() finds for a level.
  struct level_proposals {
    std::vector<std::vector<proposal>> proposals;      // by state of the batch
    std::vector<std::string> queries;                  // the level's distinct queries, in batch order
    std::vector<judges::aspect_selection> selections;  // the aspects of each of `queries`
  };
  // What respond() gets: the base answers, and for each slot the index of its answer, or `none`
  // when the same prompt was answered on the same query before (in the run or in the batch).
  static constexpr std::size_t none = static_cast<std::size_t>(-1);
  struct responses {
    std::vector<std::size_t> answer_of;          // by slot
    std::vector<result<generation>> answers;
  };

  // Phase 1: the optimizer's proposals for every state that does not skip, and the aspect
  // selections of the level's queries, asked concurrently; then proposals are read, and states
  // with none readable re-ask (not a state whose request did not fit: the same prompt would not
  // fit again). A state left without a proposal carries its prompt forward.
  [[nodiscard]] result<level_proposals> propose(std::span<const state_type> batch) {
    const std::size_t nb = batch.size();
    level_proposals level;
    level.proposals.resize(nb);
    auto& props = level.proposals;
    std::vector<bool> skip(nb);
    std::vector<std::size_t> want;  // states that ask the optimizer
    for (std::size_t b = 0; b < nb; ++b) {
      skip[b] = skips(batch[b]);
      if (!skip[b]) want.push_back(b);
      if (batch[b].path.size() >= queries_.size()) return fail(errc::internal, "drpo: expand called on a terminal state");
      const std::string& q = queries_[batch[b].path.size()];
      if (std::find(level.queries.begin(), level.queries.end(), q) == level.queries.end()) level.queries.push_back(q);
    }

    std::vector<generation_request> opt_reqs;
    for (std::size_t b : want) opt_reqs.push_back(optimizer_request(batch[b], b, 0));
    std::vector<judges::selection_request> sel_reqs;
    for (const auto& q : level.queries) sel_reqs.push_back(eng_.selection_for(q, false));
    // An optimizer request over the context fails its state alone (generate_items): the state gets
    // no proposal and carries its prompt forward ("fallback"), as for an unreadable answer.
    result<std::vector<result<generation>>> opt_out = std::vector<result<generation>>{};
    result<std::vector<judges::aspect_selection>> sel_out = std::vector<judges::aspect_selection>{};
    const std::size_t width = eng_.options().max_concurrency;
    (void)parallel_map(2, width > 1 ? 2 : 1, [&](std::size_t task) {
      if (task == 0) {
        if (!opt_reqs.empty()) opt_out = eng_.generate_items(generator_role::optimizer, opt_reqs, width > 1 ? width - 1 : 1);
      } else {
        sel_out = eng_.select(sel_reqs, 1);
      }
      return 0;
    });
    if (!opt_out) return unexpected(opt_out.error());
    if (!sel_out) return unexpected(sel_out.error());
    level.selections = std::move(*sel_out);

    std::vector<bool> overflowed(nb, false);
    auto take = [&](std::size_t b, result<generation>& answer) {
      if (answer) {
        read_proposals(batch[b], *answer, props[b]);
        return;
      }
      overflowed[b] = true;
      rejected_.push_back({batch[b].path.size(), batch[b].path.back(), 0, "the optimizer request failed: " + answer.error().describe(), {}});
    };
    std::vector<std::size_t> retry;
    for (std::size_t w = 0; w < want.size(); ++w) take(want[w], (*opt_out)[w]);
    for (int attempt = 1; attempt <= cfg_.optimizer_parse_retries; ++attempt) {
      retry.clear();
      for (std::size_t b : want)
        if (props[b].empty() && !overflowed[b]) retry.push_back(b);
      if (retry.empty()) break;
      std::vector<generation_request> again;
      for (std::size_t b : retry) again.push_back(optimizer_request(batch[b], b, attempt));
      auto more = eng_.generate_items(generator_role::optimizer, again, width);
      if (!more) return unexpected(more.error());
      for (std::size_t k = 0; k < retry.size(); ++k) take(retry[k], (*more)[k]);
    }
    for (std::size_t b = 0; b < nb; ++b) {
      if (!props[b].empty()) continue;
      props[b].push_back({trace_[batch[b].path.back()].system_prompt, skip[b] ? "carried" : "fallback", 0});
    }
    return level;
  }

  // Phase 2 (with dedup_candidates): a prompt already proposed at this level is rejected as a
  // duplicate, in batch order.
  void dedup(std::span<const state_type> batch, std::vector<std::vector<proposal>>& props) {
    if (!cfg_.dedup_candidates) return;
    std::set<std::pair<std::size_t, std::string>> seen;
    for (std::size_t b = 0; b < batch.size(); ++b) {
      std::vector<proposal> kept;
      for (auto& p : props[b]) {
        if (seen.emplace(batch[b].path.size(), p.prompt).second) kept.push_back(std::move(p));
        else
          rejected_.push_back({batch[b].path.size(), batch[b].path.back(), p.candidate_index,
                               "duplicate of an earlier proposal at this level", p.prompt});
      }
      props[b] = std::move(kept);
    }
  }

  // With pruning: whether the proposals of `s` are left out because `prune_width_` candidates of
  // this level already score at least the best path score they could reach (recorded as rejected).
  // Ties keep expansion order: these would rank below them all.
  [[nodiscard]] bool pruned(const state_type& s, const std::vector<proposal>& props, const std::vector<double>& level_scores) {
    if (props.empty() || prune_width_ == 0 || level_scores.size() < prune_width_) return false;
    const double reach = best_reachable(s);
    const auto above = static_cast<std::size_t>(
        std::count_if(level_scores.begin(), level_scores.end(), [&](double v) { return v >= reach; }));
    if (above < prune_width_) return false;
    for (const auto& p : props)
      rejected_.push_back({s.path.size(), s.path.back(), p.candidate_index,
                           fmt::format("cannot enter the beam: its best reachable path score {:.4f} is not above {} "
                                       "candidates of this level",
                                       reach, above),
                           p.prompt});
    return true;
  }

  // Phase 3: the base model answers each slot's query under its prompt, in one batch. With reuse,
  // a (prompt, query) pair answered before in the run, or earlier in this batch, is not asked again.
  [[nodiscard]] result<responses> respond(std::span<const state_type> batch, const std::vector<slot>& slots) {
    responses out;
    out.answer_of.assign(slots.size(), none);
    std::vector<generation_request> base_reqs;
    std::set<std::pair<std::string, std::string>> asked;  // pairs asked in this batch
    for (std::size_t k = 0; k < slots.size(); ++k) {
      const std::size_t b = slots[k].b, level = batch[b].path.size();
      if (reuse_ && (pairs_.count({slots[k].p.prompt, queries_[level]}) || !asked.insert({slots[k].p.prompt, queries_[level]}).second))
        continue;
      out.answer_of[k] = base_reqs.size();
      base_reqs.push_back(eng_.base_request(slots[k].p.prompt, queries_[level], seed("drpo/base", level, b, slots[k].p.candidate_index, level)));
    }
    auto base_out = eng_.generate_items(generator_role::base, base_reqs, eng_.options().max_concurrency);
    if (!base_out) return unexpected(base_out.error());
    out.answers = std::move(*base_out);
    return out;
  }

  // Phase 4: the judge scores the answers in one batch (with reuse, a (query, answer) pair judged
  // before is not asked again), and each slot becomes a candidate appended to the trace and a child
  // in `children`, in slot order; ids follow that order.
  [[nodiscard]] result<void> assess(std::span<const state_type> batch, const std::vector<slot>& slots, const responses& resp,
                                    const std::map<std::string, const judges::aspect_selection*>& selection_of,
                                    std::vector<std::vector<state_type>>& children, std::vector<double>& level_scores) {
    const auto& base_of = resp.answer_of;
    const auto& base_out = resp.answers;
    std::vector<typename engine<B, S, J, O, E>::judge_item> items;
    std::vector<std::size_t> item_of(slots.size(), none);
    std::set<std::pair<std::string, std::string>> judged;  // (query, answer) pairs judged in this batch
    for (std::size_t k = 0; k < slots.size(); ++k) {
      if (base_of[k] == none || !base_out[base_of[k]]) continue;
      const std::size_t b = slots[k].b, level = batch[b].path.size();
      const std::string& q = queries_[level];
      std::string answer(selfalign::detail::trim(base_out[base_of[k]]->text()));
      if (reuse_ && (verdicts_.count({q, answer}) || !judged.insert({q, answer}).second)) continue;
      item_of[k] = items.size();
      items.push_back({q, std::move(answer), selection_of.at(q), seed("drpo/judge", level, b, slots[k].p.candidate_index, level), false});
    }
    auto evals = eng_.judge(items);
    if (!evals) return unexpected(evals.error());
    if (reuse_)
      for (std::size_t i = 0; i < items.size(); ++i) verdicts_[{items[i].query, items[i].response}] = (*evals)[i];

    for (std::size_t k = 0; k < slots.size(); ++k) {
      const std::size_t b = slots[k].b;
      const proposal& p = slots[k].p;
      const std::size_t level = batch[b].path.size();
      candidate c;
      c.id = trace_.size();
      c.parent = batch[b].path.back();
      c.level = level;
      c.beam_index = b;
      c.candidate_index = p.candidate_index;
      c.origin = p.origin;
      c.system_prompt = p.prompt;
      c.query_index = level;
      c.query = queries_[level];
      if (base_of[k] == none) {  // evaluated before: same prompt, same query
        const candidate& src = trace_[pairs_.at({c.system_prompt, c.query})];
        c.response = src.response;
        c.eval = src.eval;
        c.reused_from = src.id;
      } else if (!base_out[base_of[k]]) {
        c.eval = eng_.failed_evaluation(*selection_of.at(c.query), base_out[base_of[k]].error(), "the base answer");
      } else if (item_of[k] != none) {
        c.response = items[item_of[k]].response;
        c.eval = (*evals)[item_of[k]];
      } else {  // the same answer to the same query was judged before
        c.response = std::string(selfalign::detail::trim(base_out[base_of[k]]->text()));
        c.eval = verdicts_.at({c.query, c.response});
      }
      state_type child = batch[b];
      child.path.push_back(c.id);
      trace_.push_back(std::move(c));
      remember(trace_.back());
      const double ps = path_score(trace_.back().id);
      if (!std::isnan(ps)) trace_.back().path_score = ps;
      level_scores.push_back(ps);
      children[b].push_back(std::move(child));
    }
    return {};
  }

  template <class... Parts>
  [[nodiscard]] std::uint64_t seed(const Parts&... parts) const {
    return derive_seed(cfg_.seed, parts...);
  }
  [[nodiscard]] double step_reward(const candidate& c) const {
    if (c.eval.reward) return *c.eval.reward;
    if (cfg_.failed_parse_reward) return *cfg_.failed_parse_reward;
    return std::numeric_limits<double>::quiet_NaN();
  }
  // The step rewards along the path ending at `id`, the initial prompt's excluded.
  [[nodiscard]] std::vector<double> rewards_along(std::size_t id) const {
    std::vector<double> rewards;
    for (std::optional<std::size_t> k = id; k && *k != 0; k = trace_[*k].parent) rewards.push_back(step_reward(trace_[*k]));
    std::reverse(rewards.begin(), rewards.end());
    return rewards;
  }
  // The highest path score a child of `s` can reach: a perfect reward (or the highest seen, if a
  // judge ever scored above max_score) appended to its path.
  [[nodiscard]] double best_reachable(const state_type& s) const {
    std::vector<double> rewards = rewards_along(s.path.back());
    rewards.push_back(std::max(cfg_.max_score, highest_reward_));
    return search::aggregate(rewards, how_);
  }

  // Records an evaluated candidate for reuse and for the pruning bound.
  void remember(const candidate& c) {
    if (c.eval.reward) highest_reward_ = std::max(highest_reward_, *c.eval.reward);
    if (!reuse_ || c.reused_from) return;
    pairs_.emplace(std::pair{c.system_prompt, c.query}, c.id);
    if (!c.eval.error) verdicts_.emplace(std::pair{c.query, c.response}, c.eval);
  }

  [[nodiscard]] static double reward_or_nan(const candidate& c) {
    return c.eval.reward ? *c.eval.reward : std::numeric_limits<double>::quiet_NaN();
  }

  [[nodiscard]] generation_request optimizer_request(const state_type& s, std::size_t beam_index, int attempt) const {
    const candidate& last = trace_[s.path.back()];
    const std::size_t from = s.path.size() > cfg_.history ? s.path.size() - cfg_.history : 0;
    std::string history;
    for (std::size_t i = from; i < s.path.size(); ++i) {
      if (i + 1 == s.path.size()) history += "---Current Version---\n" + trace_[s.path[i]].system_prompt;
      else history += fmt::format("---Version {}---\n{}\n", i - from + 1, trace_[s.path[i]].system_prompt);
    }
    generation_request g;
    g.model = cfg_.optimizer_model;
    g.prompt = prompt::chat({message::user(render_validated(cfg_.prompts.optimize_prompt,
                                                                 {{"current_system_prompt", last.system_prompt},
                                                                  {"query", last.query},
                                                                  {"output", last.response},
                                                                  {"evaluation", evaluation_text(last.eval)},
                                                                  {"history", history},
                                                                  {"max_bullets", std::to_string(cfg_.max_bullets)},
                                                                  {"max_new_bullets", std::to_string(cfg_.max_new_bullets)}}))});
    g.sampling = cfg_.optimizer_sampling;
    g.sampling.n = static_cast<int>(cfg_.actions_per_expansion);
    const std::size_t level = s.path.size();
    g.sampling.seed = seed("drpo/optimizer", level, beam_index, attempt);
    if (attempt > 0) g.sampling.temperature = cfg_.optimizer_retry_temperature;
    return g;
  }

  // The readable proposals among the optimizer's answer to `s` (the others are recorded as rejected).
  void read_proposals(const state_type& s, const generation& g, std::vector<proposal>& out) {
    for (std::size_t i = 0; i < g.choices.size(); ++i) {
      auto p = read_proposal(g.choices[i].text, "new_system_prompt");
      if (p) out.push_back(proposal{std::move(*p), "proposed", i});
      else
        rejected_.push_back({s.path.size(), s.path.back(), i, "unreadable: " + p.error().message, g.choices[i].text});
    }
  }

  engine<B, S, J, O, E>& eng_;
  const config& cfg_;
  std::vector<std::string> queries_;
  search::reward_aggregation how_;
  std::vector<candidate> trace_;
  std::vector<rejected_proposal> rejected_;
  std::size_t prune_width_ = 0;  // 0: every candidate is evaluated
  bool reuse_ = false;           // reuse (prompt, query) and (query, answer) evaluations
  double highest_reward_ = -std::numeric_limits<double>::infinity();
  std::map<std::pair<std::string, std::string>, std::size_t> pairs_;  // (prompt, query) -> candidate id
  std::map<std::pair<std::string, std::string>, evaluation> verdicts_;  // (query, answer) -> evaluation
};

}  // namespace detail
}  // namespace drpo
SELFALIGN_END_NAMESPACE
