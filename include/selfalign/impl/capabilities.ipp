// selfalign: definitions for <selfalign/capabilities.hpp> (what a backend can do, so algorithms fail fast instead of on call 300)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/capabilities.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

SELFALIGN_DECL capabilities capabilities::plain() {
  capabilities c;
  c.max_top_logprobs = 0;
  c.top_k = false;
  c.include_stop = false;
  c.seed = false;
  c.max_prompts = 1;
  c.max_concurrent_calls = 1;
  return c;
}

SELFALIGN_DECL result<void> require_capabilities(const capabilities& have, const capability_need& need,
                                                       std::string_view who) {
  std::vector<std::string> missing;
  if (need.chat && !have.chat) missing.emplace_back("chat prompts");
  if (need.raw_text && !have.raw_text) missing.emplace_back("raw-text prompts (continuing a prefix without a chat template)");
  if (need.token_ids && !have.token_ids) missing.emplace_back("token-id prompts");
  if (need.top_logprobs > have.max_top_logprobs)
    missing.push_back(selfalign::detail::format_text("top-{} logprobs per token (the backend returns at most {})",
                                  need.top_logprobs, have.max_top_logprobs));
  if (need.top_k && !have.top_k) missing.emplace_back("top-k sampling");
  if (need.include_stop && !have.include_stop) missing.emplace_back("keeping the matched stop string in the output (include_stop)");
  if (need.scoring && !have.scoring)
    missing.emplace_back("continuation scoring, log p(continuation | prompt) (vLLM and SGLang can; llama.cpp approximately; OpenAI and Ollama cannot)");
  if (need.tokenize && !have.tokenize) missing.emplace_back("tokenize/detokenize");
  if (need.embeddings && !have.embeddings) missing.emplace_back("embeddings");
  if (missing.empty()) return {};
  std::string server = have.server.empty() ? std::string("this backend") : selfalign::detail::format_text("the '{}' backend", have.server);
  return fail(errc::unsupported, selfalign::detail::format_text("{} needs {}, which {} does not provide", who,
                                             detail::join(missing, "; "), server));
}

SELFALIGN_END_NAMESPACE
