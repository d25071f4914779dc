// selfalign: DRPO internals — the shared evaluation engine (select aspects, respond, judge),
// the stage-2 SearchProblem and the stage-1 loop
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/config.hpp>
#include <selfalign/detail/lenient_json.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/drpo/config.hpp>
#include <selfalign/drpo/layout.hpp>
#include <selfalign/drpo/report.hpp>
#include <selfalign/drpo/roles.hpp>
#include <selfalign/judges/aspect_selector.hpp>
#include <selfalign/judges/prompts.hpp>
#include <selfalign/search/common.hpp>
#include <selfalign/seed.hpp>
#include <selfalign/usage.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace drpo {

namespace detail {

// {"Aspect": {"rationale": ..., "score": n}} as the optimizer sees it ("{}" when unreadable, as the original).
inline std::string evaluation_text(const evaluation& e) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (e.verdict.ok())
    for (const auto& c : e.verdict.criteria) {
      nlohmann::ordered_json score = c.score == std::floor(c.score) ? nlohmann::ordered_json(static_cast<long long>(c.score))
                                                                     : nlohmann::ordered_json(c.score);
      j[c.name] = {{"rationale", c.rationale}, {"score", score}};
    }
  return j.dump(2);
}

inline double sum_scores(const judgement& j) {
  double s = 0;
  for (const auto& c : j.criteria) s += c.score;
  return s;
}

// Replaces the two characters '\' 'n' by a newline, as the original does with proposals.
inline std::string unescape_newlines(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Reads a JSON field from an optimizer output; nullopt with a reason when it cannot.
inline result<std::string> read_proposal(const std::string& raw, const char* field) {
  auto parsed = selfalign::detail::parse_lenient_json(raw);
  if (!parsed) return unexpected(parsed.error());
  if (!parsed->value.is_object() || !parsed->value.contains(field) || !parsed->value[field].is_string())
    return fail(errc::parse_failure, fmt::format("the optimizer output has no string \"{}\"", field));
  std::string text(selfalign::detail::trim(unescape_newlines(parsed->value[field].get<std::string>())));
  if (text.empty()) return fail(errc::parse_failure, fmt::format("the optimizer's \"{}\" is empty", field));
  return text;
}

// Strips a <START>/<END> wrapping an optimizer may have copied from the examples.
inline std::string unwrap_answer(std::string a) {
  std::string_view v = selfalign::detail::trim(a);
  if (selfalign::detail::starts_with(v, "<START>")) v.remove_prefix(7);
  if (selfalign::detail::ends_with(v, "<END>")) v.remove_suffix(5);
  return std::string(selfalign::detail::trim(v));
}

/// The two generating roles of DRPO: the role names both the model called and the usage it is
/// billed to, so the two cannot disagree.
enum class generator_role { base, optimizer };

/// The calls both stages make, with accounting and retrieval.
template <class B, class S, class J, class O, class E>
class engine {
 public:
  engine(const roles<B, S, J, O, E>& r, const config& cfg, E& embedder)
      : roles_(r), cfg_(cfg), embedder_(embedder), acct_(cfg.prices, cfg.role_models) {
    opts_.max_concurrency = cfg.max_concurrency == 0 ? 1 : cfg.max_concurrency;
    opts_.stop = cfg.stop_token.stop_possible() ? cfg.stop_token : cfg.stop;
  }

  [[nodiscard]] const config& cfg() const noexcept { return cfg_; }
  [[nodiscard]] const batch_options& options() const noexcept { return opts_; }
  [[nodiscard]] usage_ledger& acct() noexcept { return acct_; }

  void emit(event_kind kind, std::string message, std::map<std::string, double> values = {}) const {
    emit_event(cfg_.on_event, "drpo", kind, std::move(message), std::move(values));
  }

  // ---- aspect selection ----
  [[nodiscard]] judges::selection_request selection_for(const std::string& query, bool icl) const {
    judges::selection_request r;
    r.query = query;
    r.min_aspects = icl ? cfg_.icl_min_aspects : cfg_.min_aspects;
    r.max_aspects = icl ? cfg_.icl_max_aspects : cfg_.max_aspects;
    r.guidance = icl ? cfg_.prompts.icl_selection_note : std::string();
    r.seed = derive_seed(cfg_.seed, "drpo/select", icl ? "icl" : "prompt", query);
    return r;
  }
  [[nodiscard]] result<std::vector<judges::aspect_selection>> select(const std::vector<judges::selection_request>& reqs,
                                                                     std::size_t concurrency) {
    batch_options o = opts_;
    o.max_concurrency = std::max<std::size_t>(1, concurrency);
    auto out = judges::select_batch(*roles_.selector, std::span<const judges::selection_request>(reqs), o);
    std::vector<judges::aspect_selection> sel;
    for (auto& r : out) {
      if (!r) {
        acct_.failed("selector");
        return unexpected(r.error());
      }
      acct_.add("selector", r->usage, r->attempts);
      sel.push_back(std::move(*r));
    }
    return sel;
  }

  // ---- generation where an item may fail alone ----
  // Answers of the base model or the optimizer, with accounting. An answer that failed with
  // errc::context_overflow stays in its slot as an error (the caller records a failed candidate or
  // example); any other failure ends the batch.
  [[nodiscard]] result<std::vector<result<generation>>> generate_items(generator_role who,
                                                                      const std::vector<generation_request>& reqs,
                                                                      std::size_t concurrency) {
    const bool base = who == generator_role::base;
    const char* role = base ? "base" : "optimizer";
    batch_options o = opts_;
    o.max_concurrency = std::max<std::size_t>(1, concurrency);
    auto out = base ? generate_batch(*roles_.base, std::span<const generation_request>(reqs), o)
                    : generate_batch(*roles_.optimizer, std::span<const generation_request>(reqs), o);
    std::optional<error> first;  // any other failure ends the batch, after every answer is counted
    for (auto& r : out) {
      if (!r) {
        acct_.failed(role);
        if (r.error().code != errc::context_overflow) {
          if (!first) first = r.error();
          continue;
        }
        emit(event_kind::warning, fmt::format("a {} request does not fit the model's context; its item (a candidate, or an "
                                              "in-context example) is recorded as failed: {}", role, r.error().message));
        continue;
      }
      acct_.add(role, r->usage, 1);
      if (base) count_base_answers(*r);
    }
    if (first) return unexpected(*first);
    return out;
  }

  // Every base answer, and those cut at max_tokens, for the report's base_answers_cut warning.
  void count_base_answers(const generation& g) noexcept {
    for (const auto& c : g.choices) {
      ++base_answers_;
      if (c.finish_reason == "length") ++base_answers_cut_;
    }
  }

  // The evaluation of a candidate whose base answer failed alone.
  [[nodiscard]] static evaluation failed_evaluation(const judges::aspect_selection& sel, const error& e, const char* what) {
    evaluation ev;
    ev.aspects = sel.aspects;
    ev.selection_reasoning = sel.reasoning;
    ev.selection_status = sel.status;
    ev.verdict.status = parse_status::failed;
    ev.verdict.attempts = 0;
    ev.verdict.rationale = fmt::format("{} failed: {}", what, e.describe());
    ev.error = e;
    return ev;
  }

  // ---- judging ----
  struct judge_item {
    std::string query;
    std::string response;
    const judges::aspect_selection* selection;
    std::uint64_t seed;
    bool icl;
  };
  [[nodiscard]] result<std::vector<evaluation>> judge(const std::vector<judge_item>& items) {
    std::vector<judge_request> reqs;
    for (const auto& it : items) {
      judge_request r;
      r.query = it.query;
      r.response = it.response;
      if (it.icl) r.guidance = cfg_.prompts.icl_judge_note;
      judges::apply_selection(r, *it.selection, cfg_.catalogue);
      r.seed = it.seed;
      reqs.push_back(std::move(r));
    }
    auto out = judge_batch(*roles_.judge, std::span<const judge_request>(reqs), opts_);
    std::vector<evaluation> evals;
    std::optional<error> first;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (!out[i]) {
        acct_.failed("judge");
        if (out[i].error().code == errc::context_overflow) {  // this item alone: recorded, the run goes on
          emit(event_kind::warning, "a judge request does not fit the judge's context; the candidate is recorded as failed: " +
                                        out[i].error().message);
          evals.push_back(failed_evaluation(*items[i].selection, out[i].error(), "the judge request"));
          continue;
        }
        if (!first) first = out[i].error();
        continue;
      }
      acct_.add("judge", out[i]->usage, std::max(1, out[i]->attempts));
      evaluation e;
      e.aspects = items[i].selection->aspects;
      e.selection_reasoning = items[i].selection->reasoning;
      e.selection_status = items[i].selection->status;
      e.verdict = std::move(*out[i]);
      if (e.verdict.ok()) e.reward = e.verdict.score;
      if (e.verdict.status == parse_status::failed)
        emit(event_kind::warning, "the judge output could not be read after " + std::to_string(e.verdict.attempts) + " attempts");
      evals.push_back(std::move(e));
    }
    if (first) return unexpected(*first);
    return evals;
  }

  // ---- retrieval ----
  [[nodiscard]] result<void> build_index(std::vector<icl_example> examples) {
    auto idx = example_index::build(std::move(examples), embedder_, cfg_.embedding_model);
    if (!idx) {
      acct_.failed("embedder");
      return unexpected(idx.error());
    }
    if (!idx->examples().empty()) acct_.add("embedder", usage{}, 1);
    index_ = std::move(*idx);
    return {};
  }
  // Examples for each query (memoized per query text; one embedding call for the new ones).
  [[nodiscard]] result<void> prefetch_examples(const std::vector<std::string>& queries, std::size_t k) {
    std::vector<std::string> missing;
    for (const auto& q : queries)
      if (!retrieved_.count(q) && std::find(missing.begin(), missing.end(), q) == missing.end()) missing.push_back(q);
    if (missing.empty() || index_.examples().empty() || k == 0) {
      for (const auto& q : missing) retrieved_[q] = {};
      return {};
    }
    auto got = index_.retrieve(std::span<const std::string>(missing), k, embedder_);
    if (!got) {
      acct_.failed("embedder");
      return unexpected(got.error());
    }
    acct_.add("embedder", usage{}, 1);
    for (std::size_t i = 0; i < missing.size(); ++i) retrieved_[missing[i]] = std::move((*got)[i]);
    return {};
  }
  [[nodiscard]] const std::vector<icl_example>& examples_for(const std::string& q) const { return retrieved_.at(q); }

  [[nodiscard]] layout_options optimization_layout() const {
    if (!cfg_.reproduce_layout_mismatch) return cfg_.layout;
    layout_options l = cfg_.layout;
    l.form = prompt_form::raw_text;
    l.original_spacing = true;
    return l;
  }
  [[nodiscard]] generation_request base_request(const std::string& system_prompt, const std::string& query, std::uint64_t seed) const {
    generation_request g;
    g.model = cfg_.base_model;
    g.prompt = render_aligned_prompt(system_prompt, examples_for(query), query, optimization_layout());
    g.sampling = cfg_.base_sampling;
    g.sampling.seed = seed;
    g.sampling.n = 1;
    return g;
  }

  /// Base answers received, and those cut at max_tokens.
  [[nodiscard]] std::pair<std::size_t, std::size_t> base_answer_counts() const noexcept {
    return {base_answers_.load(), base_answers_cut_.load()};
  }

 private:
  std::atomic<std::size_t> base_answers_{0}, base_answers_cut_{0};
  roles<B, S, J, O, E> roles_;
  const config& cfg_;
  E& embedder_;
  usage_ledger acct_;
  batch_options opts_;
  example_index index_;
  std::map<std::string, std::vector<icl_example>> retrieved_;
};

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

  [[nodiscard]] result<std::vector<std::vector<state_type>>> expand(std::span<const state_type> batch) {
    const std::size_t nb = batch.size();
    std::vector<std::vector<proposal>> props(nb);
    std::vector<bool> skip(nb);
    std::vector<std::size_t> want;  // states that ask the optimizer
    std::vector<std::string> level_queries;
    for (std::size_t b = 0; b < nb; ++b) {
      skip[b] = skips(batch[b]);
      if (!skip[b]) want.push_back(b);
      if (batch[b].path.size() >= queries_.size()) return fail(errc::internal, "drpo: expand called on a terminal state");
      const std::string& q = queries_[batch[b].path.size()];
      if (std::find(level_queries.begin(), level_queries.end(), q) == level_queries.end()) level_queries.push_back(q);
    }

    // Phase A: optimizer requests and the aspect selections of the next queries, concurrently.
    std::vector<generation_request> opt_reqs;
    for (std::size_t b : want) opt_reqs.push_back(optimizer_request(batch[b], b, 0));
    std::vector<judges::selection_request> sel_reqs;
    for (const auto& q : level_queries) sel_reqs.push_back(eng_.selection_for(q, false));
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
    std::map<std::string, const judges::aspect_selection*> selection_of;
    for (std::size_t i = 0; i < level_queries.size(); ++i) selection_of[level_queries[i]] = &(*sel_out)[i];

    // Phase B: read the proposals; re-ask for states with none readable (not for one whose request
    // did not fit: the same prompt would not fit again).
    std::vector<bool> overflowed(nb, false);
    auto take = [&](std::size_t b, result<generation>& answer) {
      if (answer) {
        read_proposals(batch[b], b, *answer, props[b]);
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
    if (cfg_.dedup_candidates) {
      std::set<std::pair<std::size_t, std::string>> seen;
      for (std::size_t b = 0; b < nb; ++b) {
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

    // Phases C and D: the base model answers each candidate's query, then the judge scores the
    // answers. The original evaluates the whole level at once; with pruning the states go one by
    // one, best first, and a state's candidates are left out once `prune_width_` candidates of the
    // level score at least the best path score they could reach.
    if (auto r = eng_.prefetch_examples(level_queries, cfg_.icl_k); !r) return unexpected(r.error());
    std::vector<std::vector<state_type>> children(nb);
    std::vector<double> level_scores;  // path scores of this level's evaluated candidates
    const std::size_t rung = prune_width_ > 0 ? 1 : nb;
    for (std::size_t from = 0; from < nb; from += rung) {
      std::vector<slot> slots;
      for (std::size_t b = from; b < std::min(nb, from + rung); ++b) {
        if (!props[b].empty() && prune_width_ > 0 && level_scores.size() >= prune_width_) {
          const double reach = best_reachable(batch[b]);
          const auto above = static_cast<std::size_t>(
              std::count_if(level_scores.begin(), level_scores.end(), [&](double v) { return v >= reach; }));
          if (above >= prune_width_) {  // ties keep expansion order: these would rank below them all
            for (const auto& p : props[b])
              rejected_.push_back({batch[b].path.size(), batch[b].path.back(), p.candidate_index,
                                   fmt::format("cannot enter the beam: its best reachable path score {:.4f} is not above {} "
                                               "candidates of this level",
                                               reach, above),
                                   p.prompt});
            continue;
          }
        }
        for (std::size_t p = 0; p < props[b].size(); ++p) slots.push_back({b, props[b][p]});
      }
      if (auto r = evaluate_slots(batch, slots, selection_of, children, level_scores); !r) return unexpected(r.error());
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

  struct proposal {
    std::string prompt;
    std::string origin;
    std::size_t candidate_index;
  };
  struct slot {
    std::size_t b;
    proposal p;
  };

  // Evaluates `slots` (base answers in one batch, then judgements in one batch) and appends the
  // candidates to the trace and `children`, in slot order. With reuse, a (prompt, query) pair or a
  // (query, answer) pair evaluated before in the run is not asked again.
  [[nodiscard]] result<void> evaluate_slots(std::span<const state_type> batch, const std::vector<slot>& slots,
                                            const std::map<std::string, const judges::aspect_selection*>& selection_of,
                                            std::vector<std::vector<state_type>>& children, std::vector<double>& level_scores) {
    constexpr std::size_t none = static_cast<std::size_t>(-1);
    std::vector<generation_request> base_reqs;
    std::vector<std::size_t> base_of(slots.size(), none);
    std::set<std::pair<std::string, std::string>> asked;  // pairs asked in this batch
    for (std::size_t k = 0; k < slots.size(); ++k) {
      const std::size_t b = slots[k].b, level = batch[b].path.size();
      if (reuse_ && (pairs_.count({slots[k].p.prompt, queries_[level]}) || !asked.insert({slots[k].p.prompt, queries_[level]}).second))
        continue;
      base_of[k] = base_reqs.size();
      base_reqs.push_back(eng_.base_request(slots[k].p.prompt, queries_[level], seed("drpo/base", level, b, slots[k].p.candidate_index, level)));
    }
    auto base_out = eng_.generate_items(generator_role::base, base_reqs, eng_.options().max_concurrency);
    if (!base_out) return unexpected(base_out.error());

    std::vector<typename engine<B, S, J, O, E>::judge_item> items;
    std::vector<std::size_t> item_of(slots.size(), none);
    std::set<std::pair<std::string, std::string>> judged;  // (query, answer) pairs judged in this batch
    for (std::size_t k = 0; k < slots.size(); ++k) {
      if (base_of[k] == none || !(*base_out)[base_of[k]]) continue;
      const std::size_t b = slots[k].b, level = batch[b].path.size();
      const std::string& q = queries_[level];
      std::string answer(selfalign::detail::trim((*base_out)[base_of[k]]->text()));
      if (reuse_ && (verdicts_.count({q, answer}) || !judged.insert({q, answer}).second)) continue;
      item_of[k] = items.size();
      items.push_back({q, std::move(answer), selection_of.at(q), seed("drpo/judge", level, b, slots[k].p.candidate_index, level), false});
    }
    auto evals = eng_.judge(items);
    if (!evals) return unexpected(evals.error());
    if (reuse_)
      for (std::size_t i = 0; i < items.size(); ++i) verdicts_[{items[i].query, items[i].response}] = (*evals)[i];

    // Assemble the children in slot order; ids follow that order.
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
      } else if (!(*base_out)[base_of[k]]) {
        c.eval = eng_.failed_evaluation(*selection_of.at(c.query), (*base_out)[base_of[k]].error(), "the base answer");
      } else if (item_of[k] != none) {
        c.response = items[item_of[k]].response;
        c.eval = (*evals)[item_of[k]];
      } else {  // the same answer to the same query was judged before
        c.response = std::string(selfalign::detail::trim((*base_out)[base_of[k]]->text()));
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
    // The template was checked before the run started, so rendering cannot fail here.
    g.prompt = prompt::chat({message::user(judges::render_prompt(cfg_.prompts.optimize_prompt,
                                                                 {{"current_system_prompt", last.system_prompt},
                                                                  {"query", last.query},
                                                                  {"output", last.response},
                                                                  {"evaluation", evaluation_text(last.eval)},
                                                                  {"history", history},
                                                                  {"max_bullets", std::to_string(cfg_.max_bullets)},
                                                                  {"max_new_bullets", std::to_string(cfg_.max_new_bullets)}})
                                                .value_or(std::string()))});
    g.sampling = cfg_.optimizer_sampling;
    g.sampling.n = static_cast<int>(cfg_.actions_per_expansion);
    const std::size_t level = s.path.size();
    g.sampling.seed = seed("drpo/optimizer", level, beam_index, attempt);
    if (attempt > 0) g.sampling.temperature = cfg_.optimizer_retry_temperature;
    return g;
  }


  template <class P>
  void read_proposals(const state_type& s, std::size_t, const generation& g, std::vector<P>& out) {
    for (std::size_t i = 0; i < g.choices.size(); ++i) {
      auto p = read_proposal(g.choices[i].text, "new_system_prompt");
      if (p) out.push_back(P{std::move(*p), "proposed", i});
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
