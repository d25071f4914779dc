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
#include <selfalign/config.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/dlma/boundary.hpp>
#include <selfalign/dlma/config.hpp>
#include <selfalign/dlma/loss.hpp>
#include <selfalign/dlma/prompts.hpp>
#include <selfalign/dlma/report.hpp>
#include <selfalign/events.hpp>
#include <selfalign/io/dataset.hpp>
#include <selfalign/result.hpp>
#include <selfalign/seed.hpp>
#include <selfalign/types.hpp>

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
  if (c.token_ids.empty() || !cfg.stop.empty() || c.finish_reason != "length") return nullptr;
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

inline void emit(const observer& on_event, event e) {
  if (on_event) on_event(e);
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
  if (auto ok = cfg.validate(); !ok) return unexpected(std::move(ok).error());
  const capabilities caps = capabilities_of(g);
  if (auto ok = require_capabilities(g, needs(cfg), detail::who); !ok) return unexpected(std::move(ok).error());

  // Resolve where the prompt/answer boundary is placed.
  boundary_mode mode = cfg.boundary;
  // What the scoring path needs: a tokenizer and token-id prompts (not ids of alternatives).
  const bool can_tokens = Tokenizer<G> && caps.tokenize && (caps.token_ids || caps.token_id_prompts);
  if (cfg.pair.layout == prompt_layout::chat) {
    if (mode == boundary_mode::tokens)
      return fail(errc::invalid_argument,
                  "dlma: boundary_mode::tokens needs the raw prompt layout (in the chat layout the backend renders the "
                  "chat template and places the boundary: generated ids or joint tokenization)");
    mode = boundary_mode::text;
  } else if (mode == boundary_mode::automatic) {
    mode = can_tokens ? boundary_mode::tokens : boundary_mode::text;
  } else if (mode == boundary_mode::tokens && !can_tokens) {
    return fail(errc::unsupported,
                "dlma: boundary_mode::tokens needs a backend that tokenizes and accepts token-id prompts "
                "(vLLM, SGLang, llama.cpp); use boundary_mode::text to let the server place the boundary");
  }

  report rep;
  rep.queries = queries.size();
  rep.boundary = mode;
  const contrastive_pair& gen_pair = cfg.pair;
  const contrastive_pair& score_pair = cfg.scoring();
  const batch_options batch{cfg.max_concurrency, cfg.stop_token};
  std::vector<double> all_r;

  auto account = [&rep](const usage& u) {
    rep.usage += u;
    ++rep.calls;
    if (u.from_cache) ++rep.cache_hits;
  };
  auto stop_with = [&rep](const selfalign::error& e) {
    if (!rep.stop_code) {
      rep.stop_code = e.code;
      rep.stop_reason = fmt::format("{}: {}", to_string(e.code), e.message);
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
    std::vector<generation_request> gen_reqs;
    gen_reqs.reserve(2 * n);
    for (std::size_t i = begin; i < end; ++i) {
      for (polarity pol : {polarity::positive, polarity::negative}) {
        generation_request r;
        r.model = cfg.model;
        r.prompt = gen_pair.render(queries[i].prompt, pol);
        r.sampling.temperature = cfg.temperature;
        r.sampling.top_p = cfg.top_p;
        r.sampling.top_k = cfg.top_k;
        r.sampling.max_tokens = cfg.max_tokens;
        r.sampling.stop = cfg.stop;
        r.sampling.n = 1;
        r.sampling.seed = server_safe_seed(detail::generation_seed(cfg.seed, queries[i], i, pol));
        r.sampling.return_token_ids = cfg.use_generated_ids;
        gen_reqs.push_back(std::move(r));
      }
    }
    std::vector<result<generation>> gens = generate_batch(g, std::span<const generation_request>(gen_reqs), batch);

    std::vector<char> alive(n, 1);
    std::vector<std::size_t> chunk_unfinished;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = begin + k;
      for (std::size_t s = 0; s < 2; ++s) {
        auto& r = gens[2 * k + s];
        if (r && r->choices.empty()) r = fail(errc::bad_response, "the backend returned no choice");
        if (r) account(r->usage);
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
        std::array<detail::prepared_scoring, 4> out;
        if (!alive[k]) return out;
        const std::string& q = queries[begin + k].prompt;
        const std::string a1 = detail::answer_text(*gens[2 * k], cfg.strip_answers);
        const std::string a2 = detail::answer_text(*gens[2 * k + 1], cfg.strip_answers);
        const prompt p_pos = score_pair.positive(q);
        const prompt p_neg = score_pair.negative(q);
        const std::vector<token_id>* gen1 = detail::usable_generated_ids(*gens[2 * k], cfg);
        const std::vector<token_id>* gen2 = detail::usable_generated_ids(*gens[2 * k + 1], cfg);
        // tokens mode: each prompt is tokenized once, alone, and serves both answers.
        std::vector<token_id> alone_pos, alone_neg;
        if (mode == boundary_mode::tokens) {
          auto ap = detail::prompt_alone(g, p_pos);
          if (!ap) return unexpected(std::move(ap).error());
          auto an = detail::prompt_alone(g, p_neg);
          if (!an) return unexpected(std::move(an).error());
          alone_pos = std::move(*ap);
          alone_neg = std::move(*an);
        }
        const bool tok = mode == boundary_mode::tokens;
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
        for (std::size_t s = 0; s < 4; ++s) {
          const combo& c = combos[s];
          auto prep = detail::prepare_scoring(g, *c.p, *c.answer, c.generated, c.alone, mode, cfg);
          if (!prep) return unexpected(std::move(prep).error());
          out[s] = std::move(*prep);
        }
        return out;
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
        if (r) {
          account(r->usage);
          continue;
        }
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

      preference_pair pair;
      pair.index = i;
      pair.id = queries[i].id;
      pair.query = queries[i].prompt;
      pair.positive_answer = detail::answer_text(*gens[2 * k], cfg.strip_answers);
      pair.negative_answer = detail::answer_text(*gens[2 * k + 1], cfg.strip_answers);
      pair.seed_positive = *gen_reqs[2 * k].sampling.seed;
      pair.seed_negative = *gen_reqs[2 * k + 1].sampling.seed;
      pair.finish_positive = gens[2 * k]->choices.front().finish_reason;
      pair.finish_negative = gens[2 * k + 1]->choices.front().finish_reason;
      pair.model = !cfg.model.empty() ? cfg.model : gens[2 * k]->model;
      static constexpr std::array<std::string_view, 4> names{"log p(a1 | p+)", "log p(a1 | p-)", "log p(a2 | p+)", "log p(a2 | p-)"};
      std::optional<std::string> bad;
      for (std::size_t s = 0; s < 4; ++s) {
        const scoring& sc = *scores[4 * m + s];
        const detail::prepared_scoring& prep = prepared[4 * m + s];
        continuation_score& cs = pair.scores[s];
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
        pair.approximate = pair.approximate || sc.approximate;
        pair.boundary_merged = pair.boundary_merged || cs.merged;
        if (!std::isfinite(sc.logprob) && !bad) bad = fmt::format("{} is {}", names[s], sc.logprob);
      }
      pair.boundary_positive = pair.scores[0].method;
      pair.boundary_negative = pair.scores[2].method;
      if (bad) {
        rep.failures.push_back({i, pair.id, selfalign::error(errc::bad_response,
                                fmt::format("the self-rewarding score is undefined: {}", *bad)), "reward"});
        continue;
      }
      pair.reward_positive = pair.scores[0].logprob - pair.scores[1].logprob;
      pair.reward_negative = pair.scores[2].logprob - pair.scores[3].logprob;
      pair.self_reward = self_rewarding_score(pair.scores[0].logprob, pair.scores[1].logprob, pair.scores[2].logprob,
                                              pair.scores[3].logprob);
      all_r.push_back(pair.self_reward);
      for (boundary_method m : {pair.boundary_positive, pair.boundary_negative}) {
        if (m == boundary_method::generated_ids) ++rep.boundary_methods.generated_ids;
        else if (m == boundary_method::joint_tokenization) ++rep.boundary_methods.joint_tokenization;
        else ++rep.boundary_methods.server_text;
      }
      const bool negative = pair.self_reward < 0.0;
      pair.swapped = negative && cfg.on_negative == negative_margin_policy::swap;
      pair.chosen = pair.swapped ? pair.negative_answer : pair.positive_answer;
      pair.rejected = pair.swapped ? pair.positive_answer : pair.negative_answer;
      pair.margin = pair.swapped ? -pair.self_reward : pair.self_reward;
      pair.score_chosen = pair.swapped ? pair.reward_negative : pair.reward_positive;
      pair.score_rejected = pair.swapped ? pair.reward_positive : pair.reward_negative;
      pair.clipped_margin = clip_margin(pair.margin, cfg.clip_min, cfg.clip_max);
      pair.weight = cfg.margin_weight;
      pair.target_margin = cfg.margin_weight * pair.clipped_margin;
      if (pair.approximate) ++rep.approximate;
      if (pair.boundary_merged) ++rep.merged_boundary;
      if (pair.finish_positive == "length" || pair.finish_negative == "length") ++rep.truncated;
      if (pair.swapped) ++rep.swapped;
      if (negative && cfg.on_negative == negative_margin_policy::drop) rep.dropped.push_back(std::move(pair));
      else rep.pairs.push_back(std::move(pair));
    }

    std::sort(chunk_unfinished.begin(), chunk_unfinished.end());
    rep.unfinished.insert(rep.unfinished.end(), chunk_unfinished.begin(), chunk_unfinished.end());
    done += n - chunk_unfinished.size();

    event e;
    e.kind = event_kind::progress;
    e.source = "dlma";
    e.message = fmt::format("{}/{} queries", done, queries.size());
    e.values = {{"done", static_cast<double>(done)},
                {"total", static_cast<double>(queries.size())},
                {"pairs", static_cast<double>(rep.pairs.size())},
                {"dropped", static_cast<double>(rep.dropped.size())},
                {"failed", static_cast<double>(rep.failures.size())}};
    detail::emit(on_event, std::move(e));

    if (rep.stop_code)
      for (std::size_t i = end; i < queries.size(); ++i) rep.unfinished.push_back(i);
  }

  std::sort(rep.failures.begin(), rep.failures.end(), [](const pair_failure& a, const pair_failure& b) { return a.index < b.index; });
  rep.margins = summarize_margins(std::move(all_r), cfg.clip_min, cfg.clip_max);
  if (rep.stop_code) {
    event e;
    e.kind = event_kind::stopped;
    e.source = "dlma";
    e.message = rep.stop_reason;
    e.values = {{"pairs", static_cast<double>(rep.pairs.size())}, {"unfinished", static_cast<double>(rep.unfinished.size())}};
    detail::emit(on_event, std::move(e));
  }
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
