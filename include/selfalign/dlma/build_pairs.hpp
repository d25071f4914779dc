// selfalign: dlma::build_pairs — contrastive sampling, self-rewarding scores, preference pairs
// SPDX-License-Identifier: MIT
#pragma once

// DLMA steps 1-2 (algorithms.md §3.2): for each query q, sample a1 under p+(q) and a2 under p−(q)
// (generate_batch), score both answers under both prompts (four score_batch calls per pair) and
// compute R = [log p(a1|p+) − log p(a1|p−)] − [log p(a2|p+) − log p(a2|p−)]. Step 3 (DPO with the
// margin) happens in a trainer: export with dlma/export.hpp, or use dlma/loss.hpp.

#include <selfalign/batch.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/dlma/boundary.hpp>
#include <selfalign/dlma/config.hpp>
#include <selfalign/dlma/loss.hpp>
#include <selfalign/dlma/make_pair.hpp>
#include <selfalign/dlma/prompts.hpp>
#include <selfalign/dlma/report.hpp>
#include <selfalign/events.hpp>
#include <selfalign/io/dataset.hpp>
#include <selfalign/result.hpp>
#include <selfalign/seed.hpp>
#include <selfalign/types.hpp>
#include <selfalign/usage.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace dlma {

/// What DLMA asks of a backend, for require_capabilities().
[[nodiscard]] inline capability_need needs(const config& cfg) {
  capability_need n;
  n.scoring = true;
  n.raw_text = cfg.pair.layout == prompt_layout::raw;
  n.chat = cfg.pair.layout == prompt_layout::chat;
  return n;
}

namespace detail {

inline constexpr std::string_view who = "DLMA (dlma::build_pairs: the self-rewarding score reads log p(answer | prompt) "
                                        "of both answers under both contrastive prompts)";

/// A scoring request and the boundary facts behind it.
struct prepared_scoring {
  scoring_request request;
  boundary_mode mode = boundary_mode::text;
  boundary_method method = boundary_method::server_text;
  bool merged = false;
  std::size_t prompt_tokens = 0;
  std::size_t scored_tokens = 0;
};

[[nodiscard]] inline bool stops_run(errc c) noexcept { return c == errc::budget_exhausted || c == errc::cancelled; }

[[nodiscard]] inline std::string answer_text(const generation& g, bool strip) {
  const std::string& t = g.text();
  return strip ? std::string(selfalign::detail::trim(t)) : t;
}

/// The generated token ids of an answer when they are exactly the answer that is scored: the
/// server returned them, no stop string cut the text short of them, stripping changed nothing, and
/// the answer was cut at max_tokens. An answer that ended on its own is scored by joint
/// tokenization instead: servers differ in whether the end-of-sequence token is among the ids,
/// and the method scores the answer's text without it.
[[nodiscard]] inline const std::vector<token_id>* usable_generated_ids(const generation& g, const config& cfg) {
  if (!cfg.use_generated_ids || g.choices.empty()) return nullptr;
  const completion& c = g.choices.front();
  if (c.token_ids.empty() || !cfg.generation_sampling().stop.empty() || c.finish_reason != "length") return nullptr;
  if (answer_text(g, cfg.strip_answers) != c.text) return nullptr;
  return &c.token_ids;
}

/// One scoring of `answer` under `p`. `alone` is tokenize(p) in tokens mode (null otherwise);
/// `generated` the answer's usable generated ids (or null).
template <class G>
[[nodiscard]] result<prepared_scoring> prepare_scoring(G& g, const prompt& p, const std::string& answer,
                                                       const std::vector<token_id>* generated,
                                                       const std::vector<token_id>* alone, boundary_mode mode,
                                                       const config& cfg) {
  prepared_scoring out;
  out.mode = mode;
  out.request.model = cfg.model;
  out.request.continuation = answer;
  out.request.top_logprobs = cfg.top_logprobs;
  if (generated) {
    // Exactly the generated sequence: the prompt's ids (tokens mode; else the backend tokenizes
    // the prompt as its generation endpoint does) followed by the ids the server sampled.
    out.method = boundary_method::generated_ids;
    out.request.prompt = alone ? prompt::tokens(*alone) : p;
    out.request.continuation_token_ids = *generated;
    out.prompt_tokens = alone ? alone->size() : 0;
    out.scored_tokens = generated->size();
    return out;
  }
  if (mode != boundary_mode::tokens || !alone) {
    out.request.prompt = p;
    return out;
  }
  if constexpr (Tokenizer<G>) {
    // Per sequence, no padding: prompt + answer tokenized together, split against the prompt alone.
    auto joint = selfalign::detail::call_tokenize(g, p.raw_text() + answer, true);
    if (!joint) return unexpected(std::move(joint).error());
    auto split = split_at_boundary(*alone, *joint, cfg.on_merge);
    if (!split) return unexpected(std::move(split).error());
    out.method = boundary_method::joint_tokenization;
    out.merged = split->merged;
    out.prompt_tokens = split->prompt_ids.size();
    out.scored_tokens = split->continuation_ids.size();
    out.request.prompt = prompt::tokens(std::move(split->prompt_ids));
    out.request.continuation_token_ids = std::move(split->continuation_ids);
    return out;
  } else {
    return fail(errc::unsupported, "boundary_mode::tokens needs a backend with tokenize/detokenize");
  }
}

/// One scoring of a text answer (no generated ids) under `p`: joint tokenization in tokens mode,
/// else text. (eval's preference protocol scores given answers this way.)
template <class G>
[[nodiscard]] result<prepared_scoring> prepare_scoring(G& g, const prompt& p, const std::string& answer, boundary_mode mode,
                                                       const config& cfg);

/// tokenize(p) with special tokens, as the completions endpoint tokenizes a text prompt.
template <class G>
[[nodiscard]] result<std::vector<token_id>> prompt_alone(G& g, const prompt& p) {
  if constexpr (Tokenizer<G>) {
    return selfalign::detail::call_tokenize(g, p.raw_text(), true);
  } else {
    return fail(errc::unsupported, "boundary_mode::tokens needs a backend with tokenize/detokenize");
  }
}

template <class G>
[[nodiscard]] result<prepared_scoring> prepare_scoring(G& g, const prompt& p, const std::string& answer, boundary_mode mode,
                                                       const config& cfg) {
  if (mode != boundary_mode::tokens) return prepare_scoring(g, p, answer, nullptr, nullptr, mode, cfg);
  auto alone = prompt_alone(g, p);
  if (!alone) return unexpected(std::move(alone).error());
  return prepare_scoring(g, p, answer, nullptr, &*alone, mode, cfg);
}

/// The sampling seed of one of a query's two generations. It derives from the query's id (a string
/// part), so that a query is asked the same calls whatever its position: in a shard of the input
/// (--shard K/N), after a filter, or resumed from a cache. A record without an id falls back to its
/// index (an integer part, so it never collides with an id that spells the same number).
[[nodiscard]] inline std::uint64_t generation_seed(std::uint64_t run_seed, const io::query_record& q, std::size_t index,
                                                   polarity pol) noexcept {
  return q.id.empty() ? derive_seed(run_seed, "dlma/generate", index, to_string(pol))
                      : derive_seed(run_seed, "dlma/generate", std::string_view(q.id), to_string(pol));
}

/// Where the prompt/answer boundary is placed: cfg.boundary resolved against the layout and what
/// the backend can do (automatic: tokens when it tokenizes and takes token-id prompts).
template <class G>
[[nodiscard]] result<boundary_mode> resolve_boundary(const capabilities& caps, const config& cfg) {
  // What the scoring path needs: a tokenizer and token-id prompts (not ids of alternatives).
  const bool can_tokens = Tokenizer<G> && caps.tokenize && (caps.token_ids || caps.token_id_prompts);
  if (cfg.pair.layout == prompt_layout::chat) {
    if (cfg.boundary == boundary_mode::tokens)
      return fail(errc::invalid_argument,
                  "dlma: boundary_mode::tokens needs the raw prompt layout (in the chat layout the backend renders the "
                  "chat template and places the boundary: generated ids or joint tokenization)");
    return boundary_mode::text;
  }
  if (cfg.boundary == boundary_mode::automatic) return can_tokens ? boundary_mode::tokens : boundary_mode::text;
  if (cfg.boundary == boundary_mode::tokens && !can_tokens)
    return fail(errc::unsupported,
                "dlma: boundary_mode::tokens needs a backend that tokenizes and accepts token-id prompts "
                "(vLLM, SGLang, llama.cpp); use boundary_mode::text to let the server place the boundary");
  return cfg.boundary;
}

/// The two generation requests (positive, negative) of each query in [begin, end), in order.
[[nodiscard]] inline std::vector<generation_request> generation_requests(std::span<const io::query_record> queries,
                                                                        std::size_t begin, std::size_t end,
                                                                        const config& cfg) {
  std::vector<generation_request> out;
  out.reserve(2 * (end - begin));
  const selfalign::sampling sampling = cfg.generation_sampling();
  for (std::size_t i = begin; i < end; ++i) {
    for (polarity pol : {polarity::positive, polarity::negative}) {
      generation_request r;
      r.model = cfg.model;
      r.prompt = cfg.pair.render(queries[i].prompt, pol);
      r.sampling = sampling;
      r.sampling.n = 1;
      r.sampling.seed = server_safe_seed(generation_seed(cfg.seed, queries[i], i, pol));
      r.sampling.return_token_ids = cfg.use_generated_ids;
      out.push_back(std::move(r));
    }
  }
  return out;
}

/// The four scorings of one query's answers, in score_slot order. In tokens mode each contrastive
/// prompt is tokenized once, alone, and serves both answers.
template <class G>
[[nodiscard]] result<std::array<prepared_scoring, 4>> prepare_pair_scorings(G& g, const std::string& query,
                                                                           const generation& positive,
                                                                           const generation& negative,
                                                                           boundary_mode mode, const config& cfg) {
  const contrastive_pair& pair = cfg.scoring();
  const std::string a1 = answer_text(positive, cfg.strip_answers);
  const std::string a2 = answer_text(negative, cfg.strip_answers);
  const prompt p_pos = pair.positive(query);
  const prompt p_neg = pair.negative(query);
  const std::vector<token_id>* gen1 = usable_generated_ids(positive, cfg);
  const std::vector<token_id>* gen2 = usable_generated_ids(negative, cfg);
  const bool tok = mode == boundary_mode::tokens;
  std::vector<token_id> alone_pos, alone_neg;
  if (tok) {
    auto ap = prompt_alone(g, p_pos);
    if (!ap) return unexpected(std::move(ap).error());
    auto an = prompt_alone(g, p_neg);
    if (!an) return unexpected(std::move(an).error());
    alone_pos = std::move(*ap);
    alone_neg = std::move(*an);
  }
  struct combo {
    const prompt* p;
    const std::string* answer;
    const std::vector<token_id>* generated;
    const std::vector<token_id>* alone;
  };
  const std::array<combo, 4> combos{{{&p_pos, &a1, gen1, tok ? &alone_pos : nullptr},
                                     {&p_neg, &a1, gen1, tok ? &alone_neg : nullptr},
                                     {&p_pos, &a2, gen2, tok ? &alone_pos : nullptr},
                                     {&p_neg, &a2, gen2, tok ? &alone_neg : nullptr}}};
  std::array<prepared_scoring, 4> out;
  for (std::size_t s = 0; s < 4; ++s) {
    const combo& c = combos[s];
    auto prep = prepare_scoring(g, *c.p, *c.answer, c.generated, c.alone, mode, cfg);
    if (!prep) return unexpected(std::move(prep).error());
    out[s] = std::move(*prep);
  }
  return out;
}

/// What one scoring measured, with the boundary facts of the request that asked it.
[[nodiscard]] inline continuation_score to_continuation_score(const scoring& sc, const prepared_scoring& prep,
                                                              const config& cfg) {
  continuation_score cs;
  cs.logprob = sc.logprob;
  if (cfg.keep_token_detail) cs.tokens = sc.tokens;
  cs.approximate = sc.approximate;
  cs.boundary = prep.mode;
  cs.method = prep.method;
  cs.merged = prep.merged;
  cs.prompt_tokens = prep.prompt_tokens;
  cs.scored_tokens = prep.method != boundary_method::server_text ? prep.scored_tokens : sc.tokens.size();
  if (prep.method == boundary_method::server_text && sc.boundary == scoring_boundary::joint_tokenization) {
    // The backend tokenized prompt + answer together itself (chat prompts, text mode).
    cs.method = boundary_method::joint_tokenization;
    cs.merged = sc.boundary_merged;
  }
  if (cs.prompt_tokens == 0) cs.prompt_tokens = sc.prompt_tokens;  // the backend's count, when it knows
  return cs;
}

/// One sampled answer as the pair records it.
[[nodiscard]] inline sampled_answer sampled(const generation& g, const generation_request& r, const config& cfg) {
  return {answer_text(g, cfg.strip_answers), r.sampling.seed.value_or(0), g.choices.front().finish_reason};
}

/// Counts a scored pair (kept or dropped) into the report's tallies.
inline void tally(report& rep, const preference_pair& pair) {
  for (boundary_method m : {pair.boundary_positive, pair.boundary_negative}) {
    if (m == boundary_method::generated_ids) ++rep.boundary_methods.generated_ids;
    else if (m == boundary_method::joint_tokenization) ++rep.boundary_methods.joint_tokenization;
    else ++rep.boundary_methods.server_text;
  }
  if (pair.approximate) ++rep.approximate;
  if (pair.boundary_merged) ++rep.merged_boundary;
  if (pair.finish_positive == "length" || pair.finish_negative == "length") ++rep.truncated;
  if (pair.swapped) ++rep.swapped;
}

}  // namespace detail

/// Builds DLMA preference pairs for `queries` with generator `g`.
///
/// Per query: two generations through generate_batch, seeds
/// server_safe_seed(derive_seed(cfg.seed, "dlma/generate", id, "positive"|"negative")) with id the
/// query's id (io::query_record::id; its index in `queries` only when the id is empty), then four
/// scorings through score_batch, then R, clipping, weighting and the negative-margin policy.
/// Results do not depend on cfg.max_concurrency, nor on which other queries are in the run: a
/// query gets the same seeds alone, in a shard of the input or in the whole input. Queries run in
/// chunks of cfg.chunk_size; a progress event follows each chunk.
///
/// Returns an error only when the run cannot start: an invalid config (errc::invalid_argument)
/// or a backend without what DLMA needs (errc::unsupported, naming it). A failed call makes its
/// query a report::failures entry; errc::budget_exhausted or errc::cancelled stops the run
/// cleanly with the finished pairs kept, report::stop_reason set and report::unfinished listing
/// the rest. Wrap g in cached<> over a durable cache_store to resume such a run for free.
template <ScoringGenerator G>
[[nodiscard]] result<report> build_pairs(G& g, std::span<const io::query_record> queries, const config& cfg,
                                         const observer& on_event = {}) {
  if (auto ok = validate(cfg); !ok) return unexpected(std::move(ok).error());
  const observer& events = on_event ? on_event : cfg.on_event;
  const capabilities caps = capabilities_of(g);
  if (auto ok = require_capabilities(g, needs(cfg), detail::who); !ok) return unexpected(std::move(ok).error());

  auto resolved = detail::resolve_boundary<G>(caps, cfg);
  if (!resolved) return unexpected(std::move(resolved).error());
  const boundary_mode mode = *resolved;

  report rep;
  rep.set_status(run_status::completed());  // until a stop says otherwise
  rep.queries = queries.size();
  rep.boundary = mode;
  const batch_options batch{cfg.max_concurrency, cfg.stop_token};
  std::vector<double> all_r;

  usage_ledger ledger;  // by role: "generator" (the two answers), "scorer" (the four scorings)
  auto account = [&rep, &ledger](const char* role, const auto& r) {
    if (!r) {
      ledger.failed(role);
      return;
    }
    rep.usage += r->usage;
    ++rep.calls;
    if (r->usage.from_cache) ++rep.cache_hits;
    ledger.add(role, r->usage);
  };
  auto stop_with = [&rep](const selfalign::error& e) {
    if (!rep.stop_code) {
      rep.set_status(run_status::stopped(e));
    }
  };
  std::size_t done = 0;

  for (std::size_t begin = 0; begin < queries.size() && !rep.stop_code; begin += cfg.chunk_size) {
    if (cfg.stop_token.stop_requested()) {
      stop_with(selfalign::error(errc::cancelled, "the run was cancelled"));
      for (std::size_t i = begin; i < queries.size(); ++i) rep.unfinished.push_back(i);
      break;
    }
    const std::size_t end = std::min(queries.size(), begin + cfg.chunk_size);
    const std::size_t n = end - begin;

    // 1. Two samples per query.
    const std::vector<generation_request> gen_reqs = detail::generation_requests(queries, begin, end, cfg);
    std::vector<result<generation>> gens = generate_batch(g, std::span<const generation_request>(gen_reqs), batch);

    std::vector<char> alive(n, 1);
    std::vector<std::size_t> chunk_unfinished;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = begin + k;
      for (std::size_t s = 0; s < 2; ++s) {
        auto& r = gens[2 * k + s];
        if (r && r->choices.empty()) {
          account("generator", r);  // answered (and billed), but unusable
          r = fail(errc::bad_response, "the backend returned no choice");
          continue;
        }
        account("generator", r);
      }
      for (std::size_t s = 0; s < 2 && alive[k]; ++s) {
        const auto& r = gens[2 * k + s];
        if (r) continue;
        alive[k] = 0;
        if (detail::stops_run(r.error().code)) {
          stop_with(r.error());
          chunk_unfinished.push_back(i);
        } else {
          rep.failures.push_back({i, queries[i].id, r.error(), "generate"});
        }
      }
    }

    // 2. Four scorings per query (skipped once the run is stopping: they would hit the same wall).
    std::vector<std::size_t> scored;  // chunk offsets with prepared requests
    std::vector<scoring_request> score_reqs;
    std::vector<detail::prepared_scoring> prepared;
    if (!rep.stop_code) {
      auto preps = parallel_map(n, cfg.max_concurrency, [&](std::size_t k) -> result<std::array<detail::prepared_scoring, 4>> {
        if (!alive[k]) {
          std::array<detail::prepared_scoring, 4> none;  // (a returned temporary `{}` crashes GCC 12 here)
          return none;
        }
        return detail::prepare_pair_scorings(g, queries[begin + k].prompt, *gens[2 * k], *gens[2 * k + 1], mode, cfg);
      });
      for (std::size_t k = 0; k < n; ++k) {
        if (!alive[k]) continue;
        if (!preps[k]) {
          alive[k] = 0;
          rep.failures.push_back({begin + k, queries[begin + k].id, preps[k].error(), "tokenize"});
          continue;
        }
        scored.push_back(k);
        for (auto& p : *preps[k]) {
          score_reqs.push_back(p.request);
          prepared.push_back(std::move(p));
        }
      }
    } else {
      for (std::size_t k = 0; k < n; ++k)
        if (alive[k]) chunk_unfinished.push_back(begin + k);
    }
    std::vector<result<scoring>> scores;
    if (!score_reqs.empty()) scores = score_batch(g, std::span<const scoring_request>(score_reqs), batch);

    // 3. Rewards, margins, pairs.
    for (std::size_t m = 0; m < scored.size(); ++m) {
      const std::size_t k = scored[m];
      const std::size_t i = begin + k;
      bool ok = true;
      for (std::size_t s = 0; s < 4; ++s) {
        const auto& r = scores[4 * m + s];
        account("scorer", r);
        if (r) continue;
        if (!ok) continue;
        ok = false;
        if (detail::stops_run(r.error().code)) {
          stop_with(r.error());
          chunk_unfinished.push_back(i);
        } else {
          rep.failures.push_back({i, queries[i].id, r.error(), "score"});
        }
      }
      if (!ok) continue;

      std::array<continuation_score, 4> measured;
      for (std::size_t s = 0; s < 4; ++s) measured[s] = detail::to_continuation_score(*scores[4 * m + s], prepared[4 * m + s], cfg);
      const pair_source source{i, queries[i].id, queries[i].prompt, !cfg.model.empty() ? cfg.model : gens[2 * k]->model};
      auto made = make_pair(source, detail::sampled(*gens[2 * k], gen_reqs[2 * k], cfg),
                            detail::sampled(*gens[2 * k + 1], gen_reqs[2 * k + 1], cfg), measured, cfg);
      if (!made) {
        rep.failures.push_back({i, queries[i].id, made.error(), "reward"});
        continue;
      }
      all_r.push_back(made->self_reward);
      detail::tally(rep, *made);
      if (made->self_reward < 0.0 && cfg.on_negative == negative_margin_policy::drop) rep.dropped.push_back(std::move(*made));
      else rep.pairs.push_back(std::move(*made));
    }

    std::sort(chunk_unfinished.begin(), chunk_unfinished.end());
    rep.unfinished.insert(rep.unfinished.end(), chunk_unfinished.begin(), chunk_unfinished.end());
    done += n - chunk_unfinished.size();

    emit_event(events, "dlma", event_kind::progress, fmt::format("{}/{} queries", done, queries.size()),
               {{"done", static_cast<double>(done)},
                {"total", static_cast<double>(queries.size())},
                {"pairs", static_cast<double>(rep.pairs.size())},
                {"dropped", static_cast<double>(rep.dropped.size())},
                {"failed", static_cast<double>(rep.failures.size())}});

    if (rep.stop_code)
      for (std::size_t i = end; i < queries.size(); ++i) rep.unfinished.push_back(i);
  }

  std::sort(rep.failures.begin(), rep.failures.end(), [](const pair_failure& a, const pair_failure& b) { return a.index < b.index; });
  rep.margins = summarize_margins(std::move(all_r), cfg.clip_min, cfg.clip_max);
  rep.run_usage = ledger.summary();
  if (rep.stop_code)
    emit_event(events, "dlma", event_kind::stopped, rep.stop_reason,
               {{"pairs", static_cast<double>(rep.pairs.size())}, {"unfinished", static_cast<double>(rep.unfinished.size())}});
  return rep;
}

/// build_pairs over in-memory query texts (ids "1", "2", ...).
template <ScoringGenerator G>
[[nodiscard]] result<report> build_pairs(G& g, const std::vector<std::string>& queries, const config& cfg,
                                         const observer& on_event = {}) {
  const std::vector<io::query_record> records = io::queries_from_strings(queries);
  return build_pairs(g, std::span<const io::query_record>(records), cfg, on_event);
}

}  // namespace dlma
SELFALIGN_END_NAMESPACE
