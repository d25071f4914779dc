// selfalign: the three ways an OpenAI-compatible server can score a given continuation —
// prompt logprobs (vLLM), echo (SGLang) and teacher forcing (llama.cpp). Each takes the prompt's
// and the continuation's token ids and returns one logprob per continuation token.
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/detail/http_transport.hpp>
#include <selfalign/backends/detail/wire.hpp>
#include <selfalign/config.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
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

/// llama.cpp: one native /completion request per continuation token, reading the forced token's
/// logprob among the `n_probs` most likely (`read_top`); approximate when it fell outside them.
/// cache_prompt lets the server reuse the shared prefix from one step to the next.
[[nodiscard]] inline result<scored_continuation> score_by_teacher_forcing(http_transport& net, const scoring_call& c, int read_top) {
  scored_continuation out;
  std::vector<token_id> context(c.prompt.begin(), c.prompt.end());
  for (const token_id next : c.continuation) {
    nlohmann::json body = {{"prompt", context}, {"n_predict", 1}, {"n_probs", read_top}, {"cache_prompt", true}, {"temperature", 0}};
    if (!c.model.empty()) body["model"] = c.model;
    merge_extra(body, net.options().extra_body);
    auto j = net.post_json("/completion", body, c.deadline, true);
    if (!j) return unexpected(std::move(j).error());
    auto step = parse_teacher_step(*j, next, c.top_logprobs);
    if (!step) return unexpected(std::move(step).error());
    if (!step->exact) out.approximate = true;
    out.tokens.push_back(std::move(step->token));
    out.used += parse_native_usage(*j);
    context.push_back(next);
  }
  return out;
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
