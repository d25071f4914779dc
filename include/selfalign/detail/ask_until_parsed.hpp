// selfalign: the ask-parse-retry loop shared by the LLM judges (rubric judge, aspect selector) and
// the evaluation protocols that ask a model for a label
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/seed.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// One question for ask_until_parsed: a single-user-message chat prompt and the seed of its first attempt.
struct question {
  std::string prompt;
  std::uint64_t seed = 0;
};

/// What came of one question.
template <class T>
struct parsed_answer {
  std::optional<T> value;                   ///< the parsed answer; empty when no attempt could be parsed
  std::optional<selfalign::error> failure;  ///< a call failed (not retried here: the backend retries calls)
  std::string raw;                          ///< the last raw output
  std::string parse_error;                  ///< why the last output could not be parsed
  int attempts = 0;                         ///< calls answered
  selfalign::usage usage;                   ///< summed; from_cache only when every attempt came from a cache
};

/// How the questions are asked.
struct ask_options {
  std::string model;             ///< request model name ("" = the backend's default)
  selfalign::sampling sampling;  ///< of the first attempt
  int retries = 1;               ///< further attempts for an answer that cannot be parsed
  double retry_temperature = 0.7;  ///< a retry at temperature 0 would repeat the same output
  std::string_view retry_tag;    ///< names the retries in their derived seeds
};

/// Asks every question through generate_batch and parses each answer with `parse(index, text)`
/// (returning result<T>). Questions whose answer cannot be parsed are asked again, up to
/// `retries` times, hotter and with seed derive_seed(seed, retry_tag, attempt); each round is one
/// batch, so the retries of many questions run concurrently.
template <class T, Generator G, class Parse>
[[nodiscard]] std::vector<parsed_answer<T>> ask_until_parsed(G& model, std::span<const question> questions,
                                                             const ask_options& opt, const batch_options& batch,
                                                             Parse&& parse) {
  std::vector<parsed_answer<T>> out(questions.size());
  std::vector<std::size_t> pending(questions.size());
  for (std::size_t k = 0; k < pending.size(); ++k) pending[k] = k;
  for (int attempt = 0; attempt <= opt.retries && !pending.empty(); ++attempt) {
    std::vector<generation_request> calls;
    calls.reserve(pending.size());
    for (std::size_t k : pending) {
      generation_request g;
      g.model = opt.model;
      g.prompt = prompt::chat({message::user(questions[k].prompt)});
      g.sampling = opt.sampling;
      g.sampling.seed = attempt == 0 ? questions[k].seed : derive_seed(questions[k].seed, opt.retry_tag, attempt);
      if (attempt > 0) g.sampling.temperature = opt.retry_temperature;
      calls.push_back(std::move(g));
    }
    auto answers = generate_batch(model, std::span<const generation_request>(calls), batch);
    std::vector<std::size_t> still;
    for (std::size_t a = 0; a < pending.size(); ++a) {
      const std::size_t k = pending[a];
      parsed_answer<T>& o = out[k];
      if (!answers[a]) {
        o.failure = answers[a].error();
        continue;
      }
      const bool all_cached = (attempt == 0 || o.usage.from_cache) && answers[a]->usage.from_cache;
      o.usage += answers[a]->usage;
      o.usage.from_cache = all_cached;
      o.attempts = attempt + 1;
      o.raw = answers[a]->text();
      result<T> p = parse(k, o.raw);
      if (p) {
        o.value = std::move(*p);
      } else {
        o.parse_error = p.error().message;
        still.push_back(k);
      }
    }
    pending = std::move(still);
  }
  return out;
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
