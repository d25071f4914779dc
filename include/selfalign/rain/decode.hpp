// selfalign: rain::decode, rain::decode_vanilla and rain::decode_batch — RAIN's outer and inner
// loops over any Generator, Judge and Embedder
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/rain/config.hpp>
#include <selfalign/rain/detail/access.hpp>
#include <selfalign/rain/detail/formulas.hpp>
#include <selfalign/rain/report.hpp>
#include <selfalign/rain/tree.hpp>
#include <selfalign/result.hpp>
#include <selfalign/seed.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace rain {

namespace detail {

using rain::validate;  // public since it moved to rain/config.hpp

[[nodiscard]] inline std::string context_of(const input& in, const config& c) {
  return in.context.empty() ? c.preamble + c.user_prefix + in.query + c.assistant_prefix : in.context;
}

// Cuts `text` before the first turn marker; returns whether one was found.
inline bool cut_at_marker(std::string& text, const std::vector<std::string>& markers) {
  std::size_t best = std::string::npos;
  for (const auto& m : markers)
    if (!m.empty()) best = std::min(best, text.find(m));
  if (best == std::string::npos) return false;
  text.resize(best);
  return true;
}

/// How a decode reaches the model: token ids (with the context's ids) or raw text.
struct access_mode {
  bool use_ids = false;
  std::vector<token_id> context_ids;  ///< the tokenized context when use_ids
};

template <Generator G>
[[nodiscard]] result<access_mode> resolve_mode(G& g, const capabilities& caps, const config& cfg, const std::string& context,
                                               std::string_view who) {
  bool ids = false;
  if (cfg.tokens == token_mode::ids) ids = true;
  else if (cfg.tokens == token_mode::automatic) ids = caps.token_ids && caps.tokenize && Tokenizer<G>;
  capability_need need;
  need.raw_text = !ids;
  need.token_ids = ids;
  need.tokenize = ids;
  need.top_k = cfg.candidate_top_k > 0;  // candidate token sets are top-k samples
  if (auto r = require_capabilities(caps, need, who); !r) {
    if (!caps.server.empty()) return unexpected(r.error());
    return unexpected(require_capabilities(g, need, who).error());  // names the adapter's type
  }
  std::vector<token_id> ctx;
  if (ids) {
    if constexpr (Tokenizer<G>) {
      auto t = selfalign::detail::call_tokenize(g, context, true);
      if (!t) return unexpected(t.error());
      ctx = std::move(*t);
    } else {
      return fail(errc::unsupported, fmt::format("{} needs tokenize/detokenize, which this generator type does not provide", who));
    }
  }
  return access_mode{ids, std::move(ctx)};
}

template <Generator G, Judge J, Embedder E>
class decoder {
 public:
  decoder(G& g, J& j, E& e, const input& in, const config& cfg, std::size_t index, bool ids,
          std::vector<token_id> ctx_ids, capabilities caps)
      : g_(g), j_(j), e_(e), in_(in), cfg_(cfg), index_(index),
        acc_(g, cfg, caps, ids, context_of(in, cfg), std::move(ctx_ids), count_) {}

  report run() {
    const auto t0 = std::chrono::steady_clock::now();
    report rep;
    int it0 = 0;
    for (;;) {
      step_stats st;
      st.reused_visits = it0;
      const statistics before = count_.snapshot();
      const int end = std::max(cfg_.max_iterations, it0 + cfg_.extra_iterations);
      std::vector<int> prev_path;
      bool have_prev = false;
      for (int i = it0; i < end; ++i) {
        if (cfg_.stop_token.stop_requested()) {
          finish(rep, before, st, t0);
          rep.error = selfalign::error(errc::cancelled, "rain::decode was cancelled");
          rep.stop_reason = "cancelled";
          emit_stop(rep);
          return rep;
        }
        std::vector<int> path;
        if (auto r = search(path, st); !r) {
          finish(rep, before, st, t0);
          rep.error = r.error();
          rep.stop_reason = "error";
          emit_stop(rep);
          return rep;
        }
        ++st.inner_iterations;
        if (have_prev && !(prev_path.size() <= path.size() && std::equal(prev_path.begin(), prev_path.end(), path.begin())))
          ++st.rewinds;
        prev_path = std::move(path);
        have_prev = true;
        const int b = tree_.most_visited(tree_.root());
        if (b < 0) continue;
        const node& best = tree_.at(b);
        const bool stop = cfg_.stopping == stop_rule::paper
                              ? stop_paper(st.inner_iterations, best.q, cfg_.min_iterations, cfg_.value_threshold)
                              : stop_code(best.fn, best.q, cfg_.min_iterations, cfg_.value_threshold);
        if (stop) break;
      }
      const int m = tree_.most_visited(tree_.root());
      if (m < 0) {
        finish(rep, before, st, t0);
        rep.stop_reason = "no_candidates";
        emit_stop(rep);
        return rep;
      }
      const auto& moved = tree_.at(m).tokens;
      committed_.insert(committed_.end(), moved.begin(), moved.end());
      st.text = text_of(moved);
      st.tokens = static_cast<int>(moved.size());
      tree_.commit(m, cfg_);
      it0 = cfg_.reuse_subtree ? tree_.at(m).fn : 0;
      rep.steps.push_back(st);
      settle();
      record_step_cost(rep.steps.back(), before);
      emit_step(rep);
      if (auto why = finished(); !why.empty()) {
        finish(rep, before, step_stats{}, t0, false);
        rep.stop_reason = why;
        emit_stop(rep);
        return rep;
      }
    }
  }

 private:
  // Why the committed response is complete, or "".
  std::string finished() const {
    std::string text = text_of(committed_);
    if (cut_at_marker(text, cfg_.turn_markers)) return "turn_marker";
    if (cfg_.stop_at_eos && !committed_.empty() && committed_.back().eos) return "eos";
    if (std::ssize(committed_) >= cfg_.max_new_tokens) return "max_new_tokens";
    if (acc_.uses_ids() && acc_.context_tokens() + committed_.size() >= static_cast<std::size_t>(cfg_.max_context_tokens))
      return "max_length";
    return "";
  }

  // A search_step event per committed token set.
  void emit_step(const report& rep) const {
    const step_stats& st = rep.steps.back();
    emit_event(cfg_.on_event, "rain", event_kind::search_step,
               fmt::format("input {}: step {} committed {} token(s) after {} search(es)", index_, rep.steps.size(),
                           st.tokens, st.inner_iterations),
               {{"input", static_cast<double>(index_)},
                {"step", static_cast<double>(rep.steps.size())},
                {"tokens", static_cast<double>(st.tokens)},
                {"inner_iterations", static_cast<double>(st.inner_iterations)},
                {"reused_visits", static_cast<double>(st.reused_visits)},
                {"failed_evaluations", static_cast<double>(st.failed_evaluations)},
                {"response_tokens", static_cast<double>(committed_.size())}});
  }
  // The `stopped` event: why the decode ended.
  void emit_stop(const report& rep) const {
    emit_event(cfg_.on_event, "rain", event_kind::stopped,
               rep.error ? fmt::format("input {}: {} ({})", index_, rep.stop_reason, rep.error->describe())
                         : fmt::format("input {}: {}", index_, rep.stop_reason),
               {{"input", static_cast<double>(index_)},
                {"steps", static_cast<double>(rep.stats.outer_steps)},
                {"response_tokens", static_cast<double>(rep.stats.response_tokens)},
                {"failed_evaluations", static_cast<double>(rep.stats.failed_evaluations)}});
  }

  // What a step cost: the requests and tokens counted since `before` (taken when the step began).
  void record_step_cost(step_stats& st, const statistics& before) {
    const statistics now = count_.snapshot();
    st.requests = now.requests - before.requests;
    st.prompt_tokens = now.prompt_tokens - before.prompt_tokens;
    st.completion_tokens = now.completion_tokens - before.completion_tokens;
  }

  void finish(report& rep, const statistics& before, const step_stats& partial, std::chrono::steady_clock::time_point t0,
              bool record_partial = true) {
    settle();
    if (record_partial && partial.inner_iterations > 0) {
      rep.steps.push_back(partial);
      record_step_cost(rep.steps.back(), before);
    }
    rep.tokens = committed_;
    rep.response = text_of(committed_);
    cut_at_marker(rep.response, cfg_.turn_markers);
    rep.stats = count_.snapshot();
    rep.run_usage = count_.ledger.summary();
    rep.stats.outer_steps = 0;
    for (const auto& s : rep.steps) {
      if (s.tokens > 0) ++rep.stats.outer_steps;
      rep.stats.inner_iterations += s.inner_iterations;
      rep.stats.rewinds += s.rewinds;
    }
    rep.stats.nodes = tree_.size();
    rep.stats.response_tokens = 0;
    for (const auto& t : committed_)
      if (!t.eos) ++rep.stats.response_tokens;
    rep.stats.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (cfg_.keep_tree) rep.tree = tree_.to_json(0);
  }

  // The token-set length for children of x whose prefix has `used` response tokens: the schedule's,
  // cut to what --max-new-tokens leaves (the last set of a response is shorter, never longer).
  int length_for(int x, std::size_t used) const { return length_at(tree_.at(x).depth, used); }
  int length_at(int depth, std::size_t used) const {
    const int scheduled = token_set_length(cfg_.length_schedule, depth);
    const std::ptrdiff_t left = static_cast<std::ptrdiff_t>(cfg_.max_new_tokens) - static_cast<std::ptrdiff_t>(used);
    return static_cast<int>(std::max<std::ptrdiff_t>(1, std::min<std::ptrdiff_t>(scheduled, left)));
  }

  // What a search computes at its leaf, fixed before any call: the prefix, whether it is final or
  // to be expanded, the token-set length, the seeds, and where each path node starts (for the
  // embeddings). A plan reads nothing from the tree once made, so it can run on another thread.
  struct leaf_plan {
    std::string path;
    int depth = 0;
    int fn = 0;
    std::vector<token> prefix;
    std::string response;  // text_of(prefix), cut at a turn marker
    bool terminal = false;
    bool expand = false;
    int len = 1;
    std::uint64_t rollout_seed = 0;
    std::uint64_t expand_seed = 0;
    std::vector<std::size_t> embed_from;  // prefix offset where each path node starts, leaf first

    bool same_as(const leaf_plan& o) const {
      return path == o.path && fn == o.fn && terminal == o.terminal && expand == o.expand && len == o.len &&
             token_set_key(prefix) == token_set_key(o.prefix);
    }
  };
  // What the leaf work found: the simulation, the evaluation and the embeddings (task 0) and the
  // candidates of the expansion (task 1).
  struct leaf_work {
    result<void> status;
    std::optional<double> value;
    std::string failure;
    std::vector<std::vector<float>> embs;
    std::vector<candidate> cands, stored;
  };

  void finish_plan(leaf_plan& p, bool node_terminal, bool expanded) const {
    p.response = text_of(p.prefix);
    p.terminal = node_terminal || cut_at_marker(p.response, cfg_.turn_markers) || std::ssize(p.prefix) >= cfg_.max_new_tokens ||
                 (acc_.uses_ids() && acc_.context_tokens() + p.prefix.size() >= static_cast<std::size_t>(cfg_.max_context_tokens));
    p.expand = !p.terminal && !expanded;
    p.len = length_at(p.depth, p.prefix.size());
    p.rollout_seed = derive_seed(cfg_.seed, "rain/rollout", index_, p.path, p.fn);
    p.expand_seed = derive_seed(cfg_.seed, "rain/expand", index_, p.path);
  }

  leaf_plan plan_for(int x, std::vector<token> prefix) const {
    leaf_plan p;
    const node& leaf = tree_.at(x);
    p.path = leaf.path;
    p.depth = leaf.depth;
    p.fn = leaf.fn;
    std::size_t from = prefix.size();
    for (int y = x; !tree_.is_root(y); y = tree_.at(y).parent) {
      from -= tree_.at(y).tokens.size();
      p.embed_from.push_back(from);
    }
    p.prefix = std::move(prefix);
    finish_plan(p, leaf.terminal, leaf.expanded);
    return p;
  }

  // The plan of the search that would next reach the first (best-prior) candidate of `parent`'s
  // expansion: as tree::add_child names and marks it.
  leaf_plan child_plan(const leaf_plan& parent, const candidate& c) const {
    leaf_plan p;
    p.path = parent.path.empty() ? "0" : parent.path + ".0";
    p.depth = parent.depth + 1;
    p.prefix = parent.prefix;
    p.prefix.insert(p.prefix.end(), c.tokens.begin(), c.tokens.end());
    p.embed_from.push_back(parent.prefix.size());
    p.embed_from.insert(p.embed_from.end(), parent.embed_from.begin(), parent.embed_from.end());
    finish_plan(p, std::any_of(c.tokens.begin(), c.tokens.end(), [](const token& t) { return t.eos; }), false);
    return p;
  }

  // One inner iteration: select to a leaf, simulate + evaluate || expand, back up.
  result<void> search(std::vector<int>& path, step_stats& st) {
    int x = tree_.root();
    std::vector<token> prefix = committed_;
    while (!tree_.at(x).children.empty()) {
      const addition a = tree_.check_add(x, cfg_);
      if (a == addition::added_token) count_.with([](statistics& s) { ++s.dynamic_additions; });
      if (a == addition::sample) {
        node& nd = tree_.at(x);
        const std::uint64_t seed = derive_seed(cfg_.seed, "rain/add", index_, nd.path, nd.additions++);
        auto fresh = acc_.group_sample(prefix, cfg_.addition_samples, length_for(x, prefix.size()), seed, cfg_.max_concurrency);
        if (!fresh) return unexpected(fresh.error());
        const int added = tree_.add_sampled(x, std::move(*fresh), cfg_);
        count_.with([added](statistics& s) { s.dynamic_additions += added; });
      }
      x = tree_.select(x, cfg_);
      path.push_back(x);
      const auto& ts = tree_.at(x).tokens;
      prefix.insert(prefix.end(), ts.begin(), ts.end());
    }
    leaf_plan plan = plan_for(x, std::move(prefix));
    leaf_work w = take_or_run(plan);
    if (!w.status) return w.status;
    if (plan.expand) {
      tree_.expand(x, w.cands, cfg_);
      tree_.at(x).stored = std::move(w.stored);
    }
    if (w.value) {
      tree_.backup(x, *w.value, w.embs, cfg_);
    } else {
      // The judge could not tell (e.g. the labels' probabilities were not available): the search
      // goes on without this evaluation, as if it had not been made, and the step records it.
      ++st.failed_evaluations;
      if (st.evaluation_failure.empty()) st.evaluation_failure = w.failure;
      count_.with([](statistics& s) { ++s.failed_evaluations; });
    }
    return {};
  }

  // Task 0: rollout -> evaluation -> embeddings. Task 1: expansion (and, with speculation, the
  // start of the work of its best-prior child). They share no state but the counters and caches,
  // which lock.
  leaf_work run_plan(const leaf_plan& p) {
    leaf_work w;
    const std::size_t width = p.expand && cfg_.max_concurrency > 1 ? 2 : 1;
    auto results = parallel_map(p.expand ? 2 : 1, width, [&](std::size_t task) -> result<void> {
      if (task == 0) {
        std::string rollout_text;
        if (!p.terminal) {  // a finished text is evaluated as it is
          auto r = acc_.rollout(p.prefix, p.rollout_seed);
          if (!r) return unexpected(r.error());
          rollout_text = std::move(*r);
        }
        auto v = evaluate(p.response + rollout_text, w.failure);
        if (!v) return unexpected(v.error());
        w.value = *v;
        if (!w.value) return {};  // a failed evaluation: nothing to back up, no embedding needed
        return embed_path(p, rollout_text, w.embs);
      }
      if (p.len == 1) {
        auto alts = acc_.next_tokens(p.prefix);
        if (!alts) return unexpected(alts.error());
        w.cands = decltype(acc_)::top_children(*alts, cfg_.candidates);
        w.stored = std::move(*alts);
      } else {
        std::function<void(const std::vector<token>&)> on_greedy;
        if (speculating()) on_greedy = [&](const std::vector<token>& greedy) { speculate(child_plan(p, candidate{greedy, 0.0})); };
        auto c = acc_.group_sample(p.prefix, cfg_.candidates, p.len, p.expand_seed, cfg_.max_concurrency, on_greedy);
        if (!c) return unexpected(c.error());
        w.cands = std::move(*c);
        w.stored = w.cands;
      }
      if (!w.cands.empty()) speculate(child_plan(p, w.cands.front()));
      return {};
    });
    for (auto& r : results)
      if (!r) {
        w.status = std::move(r);
        break;
      }
    return w;
  }

  // -- Speculation ----------------------------------------------------------------------------
  // Which plans run ahead is a function of the tree and of the deepest leaf reached, never of
  // timing: a child's plan starts when its parent's expansion is known and its depth is at most
  // frontier + speculation_depth (or waits until the frontier allows it), and settle() waits until
  // nothing runs before every statistics snapshot. So requests and statistics are the same at any
  // concurrency >= 2.
  struct ahead {
    std::shared_ptr<const leaf_plan> plan;
    std::shared_future<std::shared_ptr<leaf_work>> work;  // invalid: pending, or taken by a search
  };

  bool speculating() const noexcept { return cfg_.speculation_depth > 0 && cfg_.max_concurrency > 1; }

  void speculate(leaf_plan p) {
    if (!speculating()) return;
    std::lock_guard lock(spec_mutex_);
    if (ahead_.count(p.path)) return;
    auto& a = ahead_[p.path];
    a.plan = std::make_shared<const leaf_plan>(std::move(p));
    if (a.plan->depth <= frontier_ + cfg_.speculation_depth) start(a);
  }

  // Under spec_mutex_.
  void start(ahead& a) {
    auto plan = a.plan;
    a.work = std::async(std::launch::async, [this, plan] { return std::make_shared<leaf_work>(run_plan(*plan)); }).share();
    running_.push_back(a.work);
    count_.with([](statistics& s) { ++s.speculative_leaves; });
  }

  // The leaf work for `plan`: taken from speculation when it ran (or runs) for the same plan,
  // else computed here.
  leaf_work take_or_run(const leaf_plan& plan) {
    if (!speculating()) return run_plan(plan);
    std::shared_future<std::shared_ptr<leaf_work>> f;
    {
      std::lock_guard lock(spec_mutex_);
      if (plan.depth > frontier_) {
        frontier_ = plan.depth;
        for (auto& [path, a] : ahead_)
          if (!a.work.valid() && a.plan && a.plan->depth <= frontier_ + cfg_.speculation_depth && path != plan.path) start(a);
      }
      auto it = ahead_.find(plan.path);
      if (it == ahead_.end()) {
        ahead_[plan.path];  // taken: never started later
      } else if (it->second.work.valid() && it->second.plan && it->second.plan->same_as(plan)) {
        f = std::exchange(it->second.work, {});  // taken once: a leaf visited again without a value (a failed
        it->second.plan.reset();                    // evaluation) is worked again, as without speculation
        count_.with([](statistics& s) { ++s.speculation_hits; });
      } else if (!it->second.work.valid()) {
        it->second.plan.reset();  // pending: this search does the work
      }
    }
    if (f.valid()) return *f.get();
    return run_plan(plan);
  }

  // Waits until no speculative work runs (work in flight may start more).
  void settle() {
    for (;;) {
      std::vector<std::shared_future<std::shared_ptr<leaf_work>>> now;
      {
        std::lock_guard lock(spec_mutex_);
        now.swap(running_);
      }
      if (now.empty()) return;
      for (auto& f : now) f.wait();
    }
  }

  // The judge's value for a response text, cached by text; nullopt (with `failure` set) when the
  // judge gave no score. Errors (transport, budget) end the decode. Concurrent evaluations of one
  // text share one judge call; a call without a score is not kept for later ones.
  struct eval_outcome {
    result<std::optional<double>> value{std::optional<double>{}};
    std::string failure;
  };
  result<std::optional<double>> evaluate(std::string text, std::string& failure) {
    cut_at_marker(text, cfg_.turn_markers);
    std::promise<eval_outcome> mine;
    if (cfg_.cache_evaluations) {
      std::shared_future<eval_outcome> theirs;
      {
        std::lock_guard lock(eval_mutex_);
        if (auto it = eval_cache_.find(text); it != eval_cache_.end()) theirs = it->second;
        else eval_cache_.emplace(text, mine.get_future().share());
      }
      if (theirs.valid()) {
        count_.with([](statistics& s) { ++s.evaluation_cache_hits; });
        const eval_outcome& o = theirs.get();
        if (o.value && !*o.value) failure = o.failure;
        return o.value;
      }
    }
    eval_outcome o;
    o.value = judge_text(text, o.failure);
    failure = o.failure;
    if (cfg_.cache_evaluations) {
      if (!o.value || !*o.value) {
        std::lock_guard lock(eval_mutex_);
        eval_cache_.erase(text);
      }
      mine.set_value(o);
    }
    return o.value;
  }

  result<std::optional<double>> judge_text(const std::string& text, std::string& failure) {
    judge_request jr;
    jr.query = in_.query;
    jr.response = text;
    jr.seed = server_safe_seed(derive_seed(cfg_.seed, "rain/judge", index_));
    auto j = selfalign::detail::call_judge(j_, jr);
    count_.with([](statistics& s) { ++s.evaluations; });
    if (!j) {
      count_.ledger.failed("judge");
      return unexpected(j.error());
    }
    count_.add(j->usage, j->usage.requests, "judge");
    if (!j->score) {
      failure = fmt::format("the judge gave no score for the partial response \"{}\" ({})", selfalign::detail::excerpt(text, 80),
                            j->rationale.empty() ? std::string(to_string(j->status)) : j->rationale);
      return std::optional<double>{};
    }
    return std::optional<double>(to_value(*j->score, cfg_.judge_score_low, cfg_.judge_score_high));
  }

  // [C] embeddings of the text from each path node's start to the rollout end, leaf first.
  result<void> embed_path(const leaf_plan& p, const std::string& rollout_text, std::vector<std::vector<float>>& out) {
    if (!cfg_.similarity_update && !cfg_.dynamic_addition) return {};
    embedding_request er;
    er.model = cfg_.embedding_model;
    for (std::size_t from : p.embed_from)
      er.texts.push_back(text_of(std::span<const token>(p.prefix).subspan(from)) + rollout_text);
    if (er.texts.empty()) return {};
    auto e = selfalign::detail::call_embed(e_, er);
    count_.with([](statistics& s) { ++s.embedding_calls; });
    if (!e) {
      count_.ledger.failed("embedder");
      return unexpected(e.error());
    }
    count_.ledger.add("embedder", e->usage);  // run_usage only: stats.requests counts model requests
    if (e->vectors.size() != er.texts.size())
      return fail(errc::bad_response, fmt::format("rain: the embedder returned {} vectors for {} texts",
                                                  e->vectors.size(), er.texts.size()));
    out = std::move(e->vectors);
    return {};
  }

  G& g_;
  J& j_;
  E& e_;
  const input& in_;
  const config& cfg_;
  std::size_t index_;
  counters count_;
  access<G> acc_;
  tree tree_;
  std::vector<token> committed_;
  std::mutex eval_mutex_;
  std::unordered_map<std::string, std::shared_future<eval_outcome>> eval_cache_;
  std::mutex spec_mutex_;
  int frontier_ = 0;                        // the deepest leaf a search has reached
  std::map<std::string, ahead> ahead_;      // by node path
  std::vector<std::shared_future<std::shared_ptr<leaf_work>>> running_;

 public:
  ~decoder() { settle(); }  // speculative work refers to this decoder
};

template <Generator G, Judge J, Embedder E>
[[nodiscard]] result<report> decode_one(G& g, J& j, E& e, const input& in, const config& cfg, std::size_t index) {
  if (auto v = validate(cfg); !v) return unexpected(v.error());
  const capabilities caps = capabilities_of(g);
  if (caps.max_top_logprobs < cfg.candidates)
    return fail(errc::unsupported,
                fmt::format("rain::decode needs top-{} logprobs per token (the backend returns at most {}) on {}",
                            cfg.candidates, caps.max_top_logprobs, selfalign::detail::backend_name<G>(caps)));
  auto mode = resolve_mode(g, caps, cfg, context_of(in, cfg), "rain::decode");
  if (!mode) return unexpected(mode.error());
  if constexpr (PreparableJudge<J>) {
    if (auto p = j.prepare(); !p) return unexpected(p.error());
  }
  auto d = std::make_unique<decoder<G, J, E>>(g, j, e, in, cfg, index, mode->use_ids, std::move(mode->context_ids), caps);
  report rep = d->run();
  rep.status = run_status::from(rep.error);
  return rep;
}

}  // namespace detail

/// Decodes `in` with RAIN: a tree search over token sets guided by the judge's evaluation of
/// partial responses, rewinding away from continuations that evaluate badly.
///
/// Fails (errc::unsupported) before any model call when the generator cannot continue a raw
/// prefix (or token ids), return top-`candidates` logprobs, or the judge's own prepare() fails;
/// errc::invalid_argument for a bad config. A failure during the search ends the decode with a
/// report whose `error` is set and whose `response` holds the tokens committed so far.
/// The generator, judge and embedder are called concurrently (up to config.max_concurrency).
template <Generator G, Judge J, Embedder E>
[[nodiscard]] result<report> decode(G& generator, J& judge, E& embedder, const input& in, const config& cfg = {}) {
  return detail::decode_one(generator, judge, embedder, in, cfg, 0);
}

/// Vanilla greedy decoding over the same access path (same context, token mode and stop rules):
/// one request at temperature 0, cut at the first turn marker. For comparison with decode().
template <Generator G>
[[nodiscard]] result<report> decode_vanilla(G& generator, const input& in, const config& cfg = {}) {
  if (auto v = detail::validate(cfg); !v) return unexpected(v.error());
  const auto t0 = std::chrono::steady_clock::now();
  const capabilities caps = capabilities_of(generator);
  const std::string context = detail::context_of(in, cfg);
  auto mode = detail::resolve_mode(generator, caps, cfg, context, "rain::decode_vanilla");
  if (!mode) return unexpected(mode.error());
  detail::counters count;
  detail::access<G> acc(generator, cfg, caps, mode->use_ids, context, std::move(mode->context_ids), count);
  generation_request r;
  r.model = cfg.model;
  r.prompt = acc.prompt_for({});
  r.sampling.temperature = 0.0;
  r.sampling.max_tokens = cfg.max_new_tokens;
  r.sampling.logprobs = 0;
  r.sampling.stop = cfg.turn_markers;
  if (caps.max_stop >= 0 && std::ssize(r.sampling.stop) > caps.max_stop)
    r.sampling.stop.resize(static_cast<std::size_t>(caps.max_stop));
  report rep;
  rep.status = run_status::completed();  // until the call fails
  auto a = selfalign::detail::call_generate(generator, r);
  const bool answered = count.record(a);
  rep.run_usage = count.ledger.summary();
  if (!answered) {
    rep.error = a.error();
    rep.stop_reason = "error";
    rep.status = run_status::stopped(*rep.error);
    return rep;
  }
  rep.stats = count.snapshot();
  if (!a->choices.empty()) {
    const completion& c = a->choices.front();
    for (std::size_t i = 0; i < c.tokens.size(); ++i) {
      std::optional<token_id> id = c.tokens[i].id;
      if (!id && i < c.token_ids.size()) id = c.token_ids[i];
      rep.tokens.push_back(token{c.tokens[i].token, id, acc.is_eos(c.tokens[i].token, id)});
    }
  }
  rep.response = a->text();
  const bool cut = detail::cut_at_marker(rep.response, cfg.turn_markers);
  rep.stop_reason = cut ? "turn_marker"
                    : (a->choices.empty() || a->choices.front().finish_reason == "length") ? "max_new_tokens"
                                                                                           : "eos";
  rep.stats.response_tokens = 0;
  for (const auto& t : rep.tokens)
    if (!t.eos) ++rep.stats.response_tokens;
  if (rep.tokens.empty()) rep.stats.response_tokens = static_cast<int>(a->usage.completion_tokens);
  rep.stats.outer_steps = 1;
  rep.stats.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

/// Decodes many inputs concurrently (options.max_concurrency prompts at once); answers in input
/// order. Input i derives its seeds from (config.seed, i), so each answer is the same at any
/// concurrency. The generator, judge and embedder must be thread-safe.
template <Generator G, Judge J, Embedder E>
[[nodiscard]] std::vector<result<report>> decode_batch(G& generator, J& judge, E& embedder, std::span<const input> inputs,
                                                       const config& cfg = {}, const batch_options& options = {}) {
  config c = cfg;  // a decode in flight stops too (before its next search)
  if (!c.stop_token.stop_possible()) c.stop_token = options.stop;
  return parallel_map(inputs.size(), options.max_concurrency, [&](std::size_t i) -> result<report> {
    if (c.stop_token.stop_requested()) return fail(errc::cancelled, "rain::decode_batch was cancelled before this input started");
    return detail::decode_one(generator, judge, embedder, inputs[i], c, i);
  });
}

}  // namespace rain
SELFALIGN_END_NAMESPACE
