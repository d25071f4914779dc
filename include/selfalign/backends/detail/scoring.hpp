// selfalign: the three ways an OpenAI-compatible server can score a given continuation —
// prompt logprobs (vLLM), echo (SGLang) and teacher forcing (llama.cpp). Each takes the prompt's
// and the continuation's token ids and returns one logprob per continuation token.
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/detail/http_transport.hpp>
#include <selfalign/backends/detail/wire.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// What a scoring strategy read: one logprob per continuation token, in order.
struct scored_continuation {
  std::vector<token_logprob> tokens;
  usage used;
  bool approximate = false;  // teacher forcing: a token fell outside the top-k read
};

/// The scoring call's fixed inputs: the model, the prompt's ids, the continuation's ids, the
/// alternatives wanted per token (k) and the call's deadline.
struct scoring_call {
  const std::string& model;
  std::span<const token_id> prompt;
  std::span<const token_id> continuation;
  int top_logprobs = 0;
  http_transport::clock::time_point deadline;

  [[nodiscard]] std::vector<token_id> joined() const {
    std::vector<token_id> all(prompt.begin(), prompt.end());
    all.insert(all.end(), continuation.begin(), continuation.end());
    return all;
  }
};

/// vLLM: one /completions request with the whole sequence and prompt_logprobs; exact.
[[nodiscard]] inline result<scored_continuation> score_by_prompt_logprobs(http_transport& net, const scoring_call& c) {
  const int k = c.top_logprobs;
  nlohmann::json body = {{"model", c.model}, {"prompt", c.joined()}, {"max_tokens", 1}, {"temperature", 0}, {"prompt_logprobs", k}};
  net.finish_body(body, c.model);
  auto j = net.post_json("/completions", body, c.deadline);
  if (!j) return unexpected(std::move(j).error());
  const nlohmann::json* choices = field(*j, "choices");
  const nlohmann::json* plp = (choices && choices->is_array() && !choices->empty()) ? field((*choices)[0], "prompt_logprobs") : nullptr;
  if (!plp) plp = field(*j, "prompt_logprobs");
  if (!plp)
    return unexpected(bad_body("POST /completions", "no `prompt_logprobs` in the answer (vLLM >= 0.5 needed)", net.scrubbed_excerpt(*j)));
  auto toks = parse_prompt_logprobs(*plp, c.prompt.size(), c.continuation, k);
  if (!toks) return unexpected(std::move(toks).error());
  scored_continuation out;
  out.tokens = std::move(*toks);
  out.used += parse_usage(*j);
  return out;
}

/// SGLang: one /completions request with echo + logprobs and max_tokens 1 (the extra token is
/// dropped); exact.
[[nodiscard]] inline result<scored_continuation> score_by_echo(http_transport& net, const scoring_call& c) {
  const int k = c.top_logprobs;
  const std::vector<token_id> all = c.joined();
  nlohmann::json body = {{"model", c.model}, {"prompt", all}, {"max_tokens", 1}, {"temperature", 0}, {"echo", true}, {"logprobs", k}};
  net.finish_body(body, c.model);
  auto j = net.post_json("/completions", body, c.deadline);
  if (!j) return unexpected(std::move(j).error());
  auto gen = parse_generation(*j, false);
  if (!gen) return unexpected(std::move(gen).error());
  if (gen->choices.empty()) return unexpected(bad_body("POST /completions", "no choices", net.scrubbed_excerpt(*j)));
  auto& toks = gen->choices[0].tokens;
  if (toks.size() < all.size())
    return fail(errc::bad_response, fmt::format("echo returned logprobs for {} tokens, the prompt has {}; "
                                                "is this SGLang with echo support?", toks.size(), all.size()));
  scored_continuation out;
  for (std::size_t i = 0; i < c.continuation.size(); ++i) {
    token_logprob t = toks[c.prompt.size() + i];
    if (std::isnan(t.logprob)) return fail(errc::bad_response, fmt::format("echo returned no logprob for continuation token {}", i));
    t.id = c.continuation[i];
    if (static_cast<int>(t.top.size()) > k) t.top.resize(static_cast<std::size_t>(k));
    out.tokens.push_back(std::move(t));
  }
  out.used += gen->usage;
  return out;
}

/// The alternatives one teacher-forcing request may ask for over all its positions (positions x
/// n_probs): about 100 bytes of answer each, so a request's answer stays near 6 MB, well inside the
/// transport's answer limit, even when n_probs is the whole vocabulary.
inline constexpr std::int64_t teacher_forcing_entries_per_request = std::int64_t{1} << 16;

/// How many positions of a continuation one teacher-forcing request carries: all of them where the
/// server takes a list of prompts (`max_prompts`: -1 no limit, 1 one prompt per request), capped by
/// `max_prompts` and by teacher_forcing_entries_per_request / `read_top`.
[[nodiscard]] inline std::size_t teacher_forcing_positions_per_request(int max_prompts, int read_top) {
  if (max_prompts == 1 || max_prompts == 0) return 1;
  std::int64_t n = teacher_forcing_entries_per_request / std::max<std::int64_t>(1, read_top);
  if (max_prompts > 0) n = std::min<std::int64_t>(n, max_prompts);
  return static_cast<std::size_t>(std::max<std::int64_t>(1, n));
}

/// The results of a native /completion request that carried `expected` prompts: llama.cpp answers
/// a list of prompts with a JSON array of results (each with its `index`), one prompt with one
/// object. In prompt order.
[[nodiscard]] inline result<std::vector<const nlohmann::json*>> teacher_forcing_results(const http_transport& net, const nlohmann::json& j,
                                                                                      std::size_t expected) {
  std::vector<const nlohmann::json*> out;
  if (j.is_object()) {
    out.push_back(&j);
  } else if (j.is_array()) {
    if (j.size() != expected)
      return unexpected(bad_body("POST /completion", fmt::format("a request carrying {} prompts was answered with {} results", expected,
                                                                 j.size()), net.scrubbed_excerpt(j)));
    std::vector<std::pair<std::int64_t, const nlohmann::json*>> rows;
    std::int64_t position = 0;
    for (const auto& r : j) {
      const nlohmann::json* idx = r.is_object() ? field(r, "index") : nullptr;
      rows.emplace_back(idx && idx->is_number_integer() ? idx->get<std::int64_t>() : position, &r);
      ++position;
    }
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].first != static_cast<std::int64_t>(i))
        return unexpected(bad_body("POST /completion", fmt::format("a list of {} prompts was answered with indices that are "
                                                                   "not 0..{}", expected, expected - 1), net.scrubbed_excerpt(j)));
      out.push_back(rows[i].second);
    }
  }
  if (out.size() != expected)
    return unexpected(bad_body("POST /completion", fmt::format("a request carrying {} prompts was answered with {} results", expected,
                                                               out.size()), net.scrubbed_excerpt(j)));
  return out;
}

/// llama.cpp: teacher forcing on the native /completion, reading each continuation token's logprob
/// among the `n_probs` most likely (`read_top`) at its position; approximate when it fell outside
/// them. Position i's prompt is the prompt plus the continuation's first i tokens. Where the
/// server takes a list of prompts (`max_prompts` != 1: llama.cpp answers a list with one result per
/// prompt), the positions go out together, as one request carrying one prompt per position (split
/// only to keep an answer's size bounded, see teacher_forcing_positions_per_request); else one
/// request per position. The numbers are the same either way: each prompt of a list is its own
/// task, as a separate request is. cache_prompt lets the server reuse the shared prefix.
[[nodiscard]] inline result<scored_continuation> score_by_teacher_forcing(http_transport& net, const scoring_call& c, int read_top,
                                                                          int max_prompts = 1) {
  scored_continuation out;
  const std::size_t m = c.continuation.size();
  const std::size_t per = teacher_forcing_positions_per_request(max_prompts, read_top);
  std::vector<token_id> context(c.prompt.begin(), c.prompt.end());
  for (std::size_t begin = 0; begin < m; begin += per) {
    const std::size_t count = std::min(per, m - begin);
    nlohmann::json prompt;
    if (count == 1) {
      prompt = context;
    } else {
      prompt = nlohmann::json::array();
      for (std::size_t i = 0; i < count; ++i) {
        prompt.push_back(context);
        context.push_back(c.continuation[begin + i]);
      }
      context.resize(context.size() - count);  // put back below, as the single path does
    }
    nlohmann::json body = {{"prompt", std::move(prompt)}, {"n_predict", 1}, {"n_probs", read_top}, {"cache_prompt", true}, {"temperature", 0}};
    if (!c.model.empty()) body["model"] = c.model;
    merge_extra(body, net.options().extra_body);
    auto j = net.post_json("/completion", body, c.deadline, true);
    if (!j) return unexpected(std::move(j).error());
    auto results = teacher_forcing_results(net, *j, count);
    if (!results) return unexpected(std::move(results).error());
    usage used;
    for (std::size_t i = 0; i < count; ++i) {
      const nlohmann::json& one = *(*results)[i];
      const token_id next = c.continuation[begin + i];
      auto step = parse_teacher_step(one, next, c.top_logprobs);
      if (!step) return unexpected(std::move(step).error());
      if (!step->exact) out.approximate = true;
      out.tokens.push_back(std::move(step->token));
      used += parse_native_usage(one);
      context.push_back(next);
    }
    used.requests = 1;  // one request, whatever the results say
    out.used += used;
  }
  return out;
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
