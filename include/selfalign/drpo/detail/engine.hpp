// selfalign: DRPO internals — the engine both stages call through: aspect selection, base and
// optimizer answers, judging, in-context example retrieval, with accounting and events
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/drpo/config.hpp>
#include <selfalign/drpo/layout.hpp>
#include <selfalign/drpo/report.hpp>
#include <selfalign/drpo/roles.hpp>
#include <selfalign/judges/aspect_selector.hpp>
#include <selfalign/seed.hpp>
#include <selfalign/usage.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace drpo {

namespace detail {

// The sum of a judgement's per-aspect scores (stage 1 ranks answers by it).
inline double sum_scores(const judgement& j) {
  double s = 0;
  for (const auto& c : j.criteria) s += c.score;
  return s;
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

}  // namespace detail
}  // namespace drpo
SELFALIGN_END_NAMESPACE
