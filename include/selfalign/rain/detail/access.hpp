// selfalign: how RAIN talks to a Generator: next-token top-k (cached by prefix), candidate token
// sets (greedy + samples in one batch), rollouts to the clause end, with request accounting
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/rain/config.hpp>
#include <selfalign/rain/detail/formulas.hpp>
#include <selfalign/rain/report.hpp>
#include <selfalign/rain/tree.hpp>
#include <selfalign/result.hpp>
#include <selfalign/seed.hpp>
#include <selfalign/usage.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace rain::detail {

/// Counters shared by the concurrent tasks of one decode, and its usage by role ("generator",
/// "judge", "embedder") for the report's run_usage.
struct counters {
  std::mutex mutex;
  statistics s;
  usage_ledger ledger;
  void add(const usage& u, std::int64_t requests, const char* role = "generator") {
    {
      std::lock_guard lock(mutex);
      s.requests += requests;
      s.prompt_tokens += u.prompt_tokens;
      s.completion_tokens += u.completion_tokens;
    }
    ledger.add(role, u, std::max<std::int64_t>(1, requests));  // a judge that does not say made one call at least
  }
  /// Counts an answer (one request) or a failed call; true when `a` holds an answer.
  template <class Answer>
  bool record(const result<Answer>& a, const char* role = "generator") {
    if (!a) {
      ledger.failed(role);
      return false;
    }
    add(a->usage, 1, role);
    return true;
  }
  template <class F>
  void with(F&& f) {
    std::lock_guard lock(mutex);
    f(s);
  }
  statistics snapshot() {
    std::lock_guard lock(mutex);
    return s;
  }
};

/// One decode's view of the generator: the context, the token mode and the caches.
template <Generator G>
class access {
 public:
  access(G& g, const config& cfg, capabilities caps, bool use_ids, std::string context_text,
         std::vector<token_id> context_ids, counters& count)
      : g_(g), cfg_(cfg), caps_(std::move(caps)), ids_(use_ids), context_text_(std::move(context_text)),
        context_ids_(std::move(context_ids)), count_(count) {}

  [[nodiscard]] bool uses_ids() const noexcept { return ids_; }
  [[nodiscard]] const std::string& context_text() const noexcept { return context_text_; }
  [[nodiscard]] std::size_t context_tokens() const noexcept { return context_ids_.size(); }

  /// The prompt for the context followed by `prefix`.
  [[nodiscard]] prompt prompt_for(std::span<const token> prefix) const {
    if (ids_) {
      std::vector<token_id> ids = context_ids_;
      for (const auto& t : prefix)
        if (t.id) ids.push_back(*t.id);
      return prompt::tokens(std::move(ids));
    }
    return prompt::text(context_text_ + text_of(prefix));
  }

  [[nodiscard]] bool is_eos(const std::string& text, std::optional<token_id> id) const {
    if (id && std::find(cfg_.eos_ids.begin(), cfg_.eos_ids.end(), *id) != cfg_.eos_ids.end()) return true;
    return std::find(cfg_.eos_texts.begin(), cfg_.eos_texts.end(), text) != cfg_.eos_texts.end();
  }

  /// Next-token alternatives after `prefix`, best first (cached by prefix). p = raw probability.
  [[nodiscard]] result<std::vector<candidate>> next_tokens(std::span<const token> prefix) {
    const std::string key = token_set_key(prefix);
    if (cfg_.cache_distributions) {
      std::lock_guard lock(cache_mutex_);
      if (auto it = topk_cache_.find(key); it != topk_cache_.end()) {
        count_.with([](statistics& s) { ++s.distribution_cache_hits; });
        return it->second;
      }
    }
    generation_request r;
    r.model = cfg_.model;
    r.prompt = prompt_for(prefix);
    r.sampling.max_tokens = 1;
    r.sampling.temperature = 0.0;
    r.sampling.logprobs = std::min(std::max(cfg_.candidates, cfg_.max_children), caps_.max_top_logprobs);
    auto a = selfalign::detail::call_generate(g_, r);
    if (!count_.record(a)) return unexpected(a.error());
    if (a->choices.empty()) return fail(errc::bad_response, "rain: a next-token request returned no choice");
    const completion& c = a->choices.front();
    std::vector<candidate> out;
    if (c.tokens.empty()) {
      if (c.finish_reason != "stop")
        return fail(errc::bad_response, "rain: the backend returned no logprobs for a next-token request "
                                        "(RAIN needs top-k logprobs; check that the server supports `logprobs`)");
      out.push_back({{token{"", std::nullopt, true}}, 1.0});  // EOS reported without a token entry
    } else {
      const token_logprob& t = c.tokens.front();
      auto alts = t.top;
      if (alts.empty()) alts.push_back({t.token, t.id, t.logprob});
      for (const auto& x : alts) {
        // In token-id mode a child without an id would be dropped from every later prompt while
        // its text stays in the response: refuse, as to_tokens() does for sampled sets.
        if (ids_ && !x.id && !is_eos(x.token, x.id))
          return fail(errc::bad_response, "rain: the backend returned a next-token alternative without its id in token-id mode");
        out.push_back({{make_token(x.token, x.id)}, std::exp(x.logprob)});
      }
    }
    if (cfg_.cache_distributions) {
      std::lock_guard lock(cache_mutex_);
      topk_cache_.emplace(key, out);
    }
    return out;
  }

  /// [C] top-k children at L = 1: the first `k` alternatives, probabilities renormalized over them.
  [[nodiscard]] static std::vector<candidate> top_children(const std::vector<candidate>& alts, int k) {
    std::vector<candidate> out(alts.begin(), alts.begin() + std::min<std::ptrdiff_t>(k, std::ssize(alts)));
    std::vector<double> p;
    for (const auto& c : out) p.push_back(c.p);
    normalize(p);
    for (std::size_t i = 0; i < out.size(); ++i) out[i].p = p[i];
    return out;
  }

  /// [C] GROUP_SAMPLE: a greedy token set of length L plus up to `k - 1` unique samples from the
  /// top-15 (candidate_top_k) softmax, as one batch. The greedy prior is clamped as in the code.
  /// `on_greedy`, when set, sees the greedy token set as soon as it is known (the samples may still
  /// be on their way); the requests are the same either way.
  [[nodiscard]] result<std::vector<candidate>> group_sample(std::span<const token> prefix, int k, int len,
                                                            std::uint64_t seed, std::size_t width,
                                                            const std::function<void(const std::vector<token>&)>& on_greedy = {}) {
    const int lp_k = std::min(cfg_.candidate_top_k, caps_.max_top_logprobs);
    std::vector<generation_request> reqs;
    generation_request greedy;
    greedy.model = cfg_.model;
    greedy.prompt = prompt_for(prefix);
    greedy.sampling.max_tokens = len;
    greedy.sampling.temperature = 0.0;
    greedy.sampling.logprobs = lp_k;
    reqs.push_back(greedy);
    const int attempts = k <= 1 ? 0 : (k == cfg_.candidates ? cfg_.sample_attempts : k - 1);
    if (attempts > 0) {
      generation_request s = greedy;
      s.sampling.temperature = cfg_.candidate_temperature;
      s.sampling.top_k = cfg_.candidate_top_k;
      if (caps_.native_n) {
        s.sampling.n = attempts;
        s.sampling.seed = server_safe_seed(seed);
        reqs.push_back(std::move(s));
      } else {
        for (int i = 0; i < attempts; ++i) {
          s.sampling.seed = server_safe_seed(derive_seed(seed, "sample", i));
          reqs.push_back(s);
        }
      }
    }
    std::vector<result<generation>> answers;
    if (on_greedy && reqs.size() > 1 && width > 1) {
      // The greedy request alone, so that its answer is seen before the samples' one.
      std::vector<result<generation>> rest;
      std::optional<result<generation>> first;
      (void)parallel_map(2, 2, [&](std::size_t task) -> int {
        if (task == 1) {
          rest = generate_batch(g_, std::span<const generation_request>(reqs).subspan(1), batch_options{width - 1, {}});
          return 0;
        }
        first.emplace(selfalign::detail::call_generate(g_, reqs[0]));
        if (*first && !(*first)->choices.empty())
          if (auto ts = to_tokens((*first)->choices.front(), len); ts && !ts->first.empty()) on_greedy(ts->first);
        return 0;
      });
      answers.push_back(std::move(*first));
      for (auto& a : rest) answers.push_back(std::move(a));
    } else {
      answers = generate_batch(g_, std::span<const generation_request>(reqs), batch_options{width, {}});
      if (on_greedy && !answers.empty() && answers[0] && !answers[0]->choices.empty())
        if (auto ts = to_tokens(answers[0]->choices.front(), len); ts && !ts->first.empty()) on_greedy(ts->first);
    }
    std::vector<std::pair<std::vector<token>, double>> sets;  // tokens, log p
    for (auto& a : answers) {
      if (!count_.record(a)) return unexpected(a.error());
      for (const auto& c : a->choices) {
        auto ts = to_tokens(c, len);
        if (!ts) return unexpected(ts.error());
        sets.push_back(std::move(*ts));
      }
    }
    if (sets.empty()) return fail(errc::bad_response, "rain: the greedy candidate request returned no choice");
    std::vector<candidate> out;
    std::unordered_set<std::string> seen;
    seen.insert(token_set_key(sets[0].first));
    std::vector<double> sample_p;
    for (std::size_t i = 1; i < sets.size() && static_cast<int>(out.size()) < k - 1; ++i) {
      if (sets[i].first.empty() || !seen.insert(token_set_key(sets[i].first)).second) continue;
      out.push_back({sets[i].first, std::exp(sets[i].second)});
      sample_p.push_back(out.back().p);
    }
    if (sets[0].first.empty()) return out;  // the model ended right away (no greedy set)
    out.insert(out.begin(), candidate{sets[0].first, greedy_prior(std::exp(sets[0].second), sample_p)});
    return out;
  }

  /// [C] simulation to the end of the clause: the rollout text after `prefix` ("" when the text
  /// already ends a clause). Stop strings are sent (and kept) where the server can keep them; the
  /// text is cut client-side in any case.
  [[nodiscard]] result<std::string> rollout(std::span<const token> prefix, std::uint64_t seed) {
    const std::string response = text_of(prefix);
    if (!cfg_.rollout || ends_clause(context_text_ + response, cfg_.clause_ends)) return std::string{};
    for (const auto& m : cfg_.turn_markers)
      if (!m.empty() && response.find(m) != std::string::npos) return std::string{};
    generation_request r;
    r.model = cfg_.model;
    r.prompt = prompt_for(prefix);
    r.sampling.temperature = cfg_.rollout_temperature;
    r.sampling.max_tokens = cfg_.rollout_max_tokens;
    r.sampling.seed = server_safe_seed(seed);
    // Stop at the clause end on the server when it can keep the matched stop string (the cut below
    // needs to see it); otherwise sample up to rollout_max_tokens and cut here only.
    if (caps_.include_stop) {
      r.sampling.include_stop = true;
      r.sampling.stop = cfg_.clause_ends;
      if (caps_.max_stop >= 0 && std::ssize(r.sampling.stop) > caps_.max_stop)
        r.sampling.stop.resize(static_cast<std::size_t>(caps_.max_stop));  // the rest is cut below
    }
    auto a = selfalign::detail::call_generate(g_, r);
    if (!count_.record(a)) return unexpected(a.error());
    count_.with([](statistics& s) { ++s.rollouts; });
    std::string text = a->text();
    if (const auto p = first_clause_end(text, cfg_.clause_ends); p != std::string::npos) text.resize(p);
    return text;
  }

 private:
  token make_token(const std::string& text, std::optional<token_id> id) const {
    return token{text, id, is_eos(text, id)};
  }

  // A choice's tokens (with log p renormalized over its top alternatives when configured). A set
  // shorter than `len` that stopped ended at EOS: an EOS token is appended if not reported.
  result<std::pair<std::vector<token>, double>> to_tokens(const completion& c, int len) const {
    std::vector<token> ts;
    double lp = 0;
    if (c.tokens.empty() && !c.text.empty())
      return fail(errc::bad_response, "rain: the backend returned no per-token logprobs for a sampled token set "
                                      "(RAIN needs `logprobs` on completions)");
    for (std::size_t i = 0; i < c.tokens.size(); ++i) {
      const auto& t = c.tokens[i];
      std::optional<token_id> id = t.id;
      if (!id && i < c.token_ids.size()) id = c.token_ids[i];
      if (ids_ && !id)
        return fail(errc::bad_response, "rain: the backend returned a token without its id in token-id mode");
      ts.push_back(make_token(t.token, id));
      double l = t.logprob;
      if (cfg_.renormalize_top_k && !t.top.empty()) {
        std::vector<double> top;
        for (const auto& x : t.top) top.push_back(x.logprob);
        l = renormalized_logprob(t.logprob, top);
      }
      lp += l;
      if (ts.back().eos) break;
    }
    if (static_cast<int>(ts.size()) < len && c.finish_reason == "stop" && (ts.empty() || !ts.back().eos))
      ts.push_back(token{"", std::nullopt, true});
    return std::pair{std::move(ts), lp};
  }

  G& g_;
  const config& cfg_;
  capabilities caps_;
  bool ids_;
  std::string context_text_;
  std::vector<token_id> context_ids_;
  counters& count_;
  std::mutex cache_mutex_;
  std::unordered_map<std::string, std::vector<candidate>> topk_cache_;
};

}  // namespace rain::detail
SELFALIGN_END_NAMESPACE
