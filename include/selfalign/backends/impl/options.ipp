// selfalign: definitions for <selfalign/backends/options.hpp> (server presets and profiles)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/options.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

[[nodiscard]] SELFALIGN_DECL result<server_preset> parse_server_preset(std::string_view s) {
  if (s == "llama.cpp" || s == "llama-server" || s == "llama_cpp") return server_preset::llamacpp;
  if (s == "" || s == "automatic") return server_preset::automatic;
  for (auto p : {server_preset::automatic, server_preset::openai, server_preset::vllm, server_preset::llamacpp,
                 server_preset::ollama, server_preset::sglang, server_preset::tgi, server_preset::generic})
    if (to_string(p) == s) return p;
  return fail(errc::invalid_argument,
              selfalign::detail::format_text("unknown server preset '{}' (expected auto, openai, vllm, llamacpp, ollama, sglang, tgi or generic)", s));
}

[[nodiscard]] SELFALIGN_DECL server_profile profile_for(server_preset p) {
  server_profile s;
  s.preset = p;
  using sm = server_profile::scoring_method;
  switch (p) {
    case server_preset::openai:
      s.chat_token_field = "max_completion_tokens";
      s.native_n = true;
      s.max_completion_logprobs = 5;
      s.raw_completions = false;  // legacy instruct models only
      s.max_stop = 4;
      break;
    case server_preset::vllm:
      s.native_n = true;
      s.top_k = true;
      s.token_id_prompts = true;
      s.tokenize = true;
      s.include_stop_field = true;
      s.scoring = sm::prompt_logprobs;
      s.max_prompts = -1;
      // vLLM >= 0.8 applies the model's generation_config.json (e.g. top_k, min_p, repetition_penalty).
      s.neutral_samplers = {{"min_p", 0.0}, {"repetition_penalty", 1.0}, {"presence_penalty", 0.0}, {"frequency_penalty", 0.0}};
      s.top_k_off = -1;
      break;
    case server_preset::sglang:
      s.native_n = true;
      s.top_k = true;
      s.token_id_prompts = true;
      s.tokenize = true;
      s.include_stop_field = true;
      s.scoring = sm::echo;
      s.max_prompts = -1;
      s.neutral_samplers = {{"min_p", 0.0}, {"repetition_penalty", 1.0}, {"presence_penalty", 0.0}, {"frequency_penalty", 0.0}};
      s.top_k_off = -1;
      break;
    case server_preset::llamacpp:
      s.top_k = true;  // n is emulated: older builds reject n != 1
      s.token_id_prompts = true;
      s.logprob_token_ids = true;  // n_probs entries carry "id"
      s.tokenize = true;
      s.scoring = sm::teacher_forcing;
      s.max_prompts = -1;  // a list of prompts on /v1/completions: one choice per prompt, by index (0.7.0)
      // Every sampler of llama-server's chain (penalties, dry, top_n_sigma, top_k, typical, top_p,
      // min_p, xtc, temperature, mirostat), off; the server's own defaults are top_k 40, top_p 0.95,
      // min_p 0.05, and `llama-server --repeat-penalty ...` etc. can change the rest.
      s.neutral_samplers = {{"min_p", 0.0},          {"typical_p", 1.0},        {"top_n_sigma", -1.0},
                            {"xtc_probability", 0.0}, {"repeat_penalty", 1.0},   {"presence_penalty", 0.0},
                            {"frequency_penalty", 0.0}, {"dry_multiplier", 0.0}, {"mirostat", 0},
                            {"dynatemp_range", 0.0}};
      s.top_k_off = 0;
      break;
    case server_preset::ollama:
      s.logit_bias = false;  // silently ignored by Ollama
      // Ollama's /v1 endpoints take only these two of its samplers; the model's top_k, min_p and
      // repeat_penalty (Modelfile) still apply (docs/backends.md).
      s.neutral_samplers = {{"presence_penalty", 0.0}, {"frequency_penalty", 0.0}};
      break;
    case server_preset::tgi:
      s.max_chat_top_logprobs = 5;
      s.max_completion_logprobs = -1;  // no logprobs field on TGI's /v1/completions
      s.embeddings = false;
      s.logit_bias = false;
      break;
    case server_preset::automatic:
    case server_preset::generic:
      s.preset = server_preset::generic;
      break;
  }
  return s;
}

[[nodiscard]] SELFALIGN_DECL capabilities capabilities_for(const server_profile& s) {
  capabilities c;
  c.chat = true;
  c.raw_text = s.raw_completions;
  // "token ids" means both directions: prompts in ids and ids back for every alternative. A server
  // that takes id prompts but names alternatives by text still scores exactly (the backend finds
  // the boundary itself), and algorithms work on token texts there.
  c.token_ids = s.token_id_prompts && s.logprob_token_ids;
  c.token_id_prompts = s.token_id_prompts;
  c.max_top_logprobs = s.max_chat_top_logprobs;
  c.native_n = s.native_n;
  c.top_k = s.top_k;
  c.include_stop = s.include_stop_field;
  c.max_stop = s.max_stop;
  c.max_prompts = s.max_prompts;
  c.seed = true;
  c.scoring = s.scoring != server_profile::scoring_method::none;
  c.scoring_exact = s.scoring == server_profile::scoring_method::prompt_logprobs ||
                    s.scoring == server_profile::scoring_method::echo;
  c.tokenize = s.tokenize;
  c.embeddings = s.embeddings;
  c.server = std::string(to_string(s.preset));
  return c;  // context_size: the backend fills it in once the server told it
}

[[nodiscard]] SELFALIGN_DECL std::vector<std::string> split_base_urls(std::string_view list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    std::string_view one = list.substr(start, comma - start);
    while (!one.empty() && (one.back() == ' ' || one.back() == '\t')) one.remove_suffix(1);
    while (!one.empty() && (one.front() == ' ' || one.front() == '\t')) one.remove_prefix(1);
    if (!one.empty()) out.emplace_back(one);
    start = comma + 1;
  }
  return out;
}

SELFALIGN_END_NAMESPACE
