// selfalign: definitions for <selfalign/json.hpp> (JSON (de)serialization of the vocabulary types with nlohmann/json)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/json.hpp>

SELFALIGN_BEGIN_NAMESPACE

SELFALIGN_DECL void to_json(nlohmann::json& j, const message& m) {
  j = nlohmann::json::object();
  j["role"] = m.role;
  j["content"] = m.content;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, message& m) {
  detail::get_if_present(j, "role", m.role);
  detail::get_if_present(j, "content", m.content);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const prompt& p) {
  j = nlohmann::json::object();
  if (p.is_chat()) j["messages"] = p.messages();
  else if (p.is_text()) j["text"] = p.raw_text();
  else j["tokens"] = p.token_ids();
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, prompt& p) {
  if (j.is_string()) p = prompt::text(j.get<std::string>());
  else if (j.contains("messages")) p = prompt::chat(j.at("messages").get<std::vector<message>>());
  else if (j.contains("tokens")) p = prompt::tokens(j.at("tokens").get<std::vector<token_id>>());
  else p = prompt::text(j.value("text", std::string{}));
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const sampling& s) {
  j = nlohmann::json::object();
  j["temperature"] = s.temperature;
  j["top_p"] = s.top_p;
  j["top_k"] = s.top_k;
  j["max_tokens"] = s.max_tokens;
  j["stop"] = s.stop;
  j["include_stop"] = s.include_stop;
  j["n"] = s.n;
  j["logprobs"] = s.logprobs;
  if (s.return_token_ids) j["return_token_ids"] = true;  // only when set: older cache keys stay valid
  j["seed"] = s.seed ? nlohmann::json(*s.seed) : nlohmann::json(nullptr);
  if (!s.logit_bias.empty()) {
    nlohmann::json bias = nlohmann::json::object();
    for (const auto& [id, b] : s.logit_bias) bias[std::to_string(id)] = b;
    j["logit_bias"] = std::move(bias);
  }
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, sampling& s) {
  detail::get_if_present(j, "temperature", s.temperature);
  detail::get_if_present(j, "top_p", s.top_p);
  detail::get_if_present(j, "top_k", s.top_k);
  detail::get_if_present(j, "max_tokens", s.max_tokens);
  detail::get_if_present(j, "stop", s.stop);
  detail::get_if_present(j, "include_stop", s.include_stop);
  detail::get_if_present(j, "seed", s.seed);
  detail::get_if_present(j, "n", s.n);
  detail::get_if_present(j, "logprobs", s.logprobs);
  detail::get_if_present(j, "return_token_ids", s.return_token_ids);
  s.logit_bias.clear();
  if (auto it = j.find("logit_bias"); it != j.end() && it->is_object())
    for (const auto& [k, v] : it->items()) s.logit_bias[static_cast<token_id>(std::stol(k))] = v.get<double>();
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const generation_request& r) {
  j = nlohmann::json::object();
  j["model"] = r.model;
  j["prompt"] = r.prompt;
  j["sampling"] = r.sampling;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, generation_request& r) {
  detail::get_if_present(j, "model", r.model);
  detail::get_if_present(j, "prompt", r.prompt);
  detail::get_if_present(j, "sampling", r.sampling);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const scoring_request& r) {
  j = nlohmann::json::object();
  j["model"] = r.model;
  j["prompt"] = r.prompt;
  j["continuation"] = r.continuation;
  j["continuation_token_ids"] = r.continuation_token_ids;
  j["top_logprobs"] = r.top_logprobs;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, scoring_request& r) {
  detail::get_if_present(j, "model", r.model);
  detail::get_if_present(j, "prompt", r.prompt);
  detail::get_if_present(j, "continuation", r.continuation);
  detail::get_if_present(j, "continuation_token_ids", r.continuation_token_ids);
  detail::get_if_present(j, "top_logprobs", r.top_logprobs);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const embedding_request& r) {
  j = nlohmann::json::object();
  j["model"] = r.model;
  j["texts"] = r.texts;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, embedding_request& r) {
  detail::get_if_present(j, "model", r.model);
  detail::get_if_present(j, "texts", r.texts);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const criterion& c) {
  j = nlohmann::json::object();
  j["name"] = c.name;
  j["description"] = c.description;
  j["rubric"] = c.rubric;
  j["weight"] = c.weight;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, criterion& c) {
  detail::get_if_present(j, "name", c.name);
  detail::get_if_present(j, "description", c.description);
  detail::get_if_present(j, "rubric", c.rubric);
  detail::get_if_present(j, "weight", c.weight);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const judge_request& r) {
  j = nlohmann::json::object();
  j["query"] = r.query;
  j["response"] = r.response;
  j["criteria"] = r.criteria;
  j["guidance"] = r.guidance;
  j["seed"] = r.seed ? nlohmann::json(*r.seed) : nlohmann::json(nullptr);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, judge_request& r) {
  detail::get_if_present(j, "query", r.query);
  detail::get_if_present(j, "response", r.response);
  detail::get_if_present(j, "criteria", r.criteria);
  detail::get_if_present(j, "guidance", r.guidance);
  detail::get_if_present(j, "seed", r.seed);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const top_logprob& t) {
  j = nlohmann::json::object();
  j["token"] = t.token;
  j["logprob"] = t.logprob;
  if (t.id) j["id"] = *t.id;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, top_logprob& t) {
  detail::get_if_present(j, "token", t.token);
  detail::get_if_present(j, "id", t.id);
  detail::get_if_present(j, "logprob", t.logprob);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const token_logprob& t) {
  j = nlohmann::json::object();
  j["token"] = t.token;
  j["logprob"] = t.logprob;
  j["top"] = t.top;
  if (t.id) j["id"] = *t.id;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, token_logprob& t) {
  detail::get_if_present(j, "token", t.token);
  detail::get_if_present(j, "id", t.id);
  detail::get_if_present(j, "logprob", t.logprob);
  detail::get_if_present(j, "top", t.top);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const usage& u) {
  j = nlohmann::json::object();
  j["prompt_tokens"] = u.prompt_tokens;
  j["completion_tokens"] = u.completion_tokens;
  j["cached_prompt_tokens"] = u.cached_prompt_tokens;
  j["requests"] = u.requests;
  j["from_cache"] = u.from_cache;
  if (u.estimated) j["estimated"] = true;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, usage& u) {
  detail::get_if_present(j, "prompt_tokens", u.prompt_tokens);
  detail::get_if_present(j, "completion_tokens", u.completion_tokens);
  detail::get_if_present(j, "cached_prompt_tokens", u.cached_prompt_tokens);
  detail::get_if_present(j, "requests", u.requests);
  detail::get_if_present(j, "from_cache", u.from_cache);
  detail::get_if_present(j, "estimated", u.estimated);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const completion& c) {
  j = nlohmann::json::object();
  j["text"] = c.text;
  j["tokens"] = c.tokens;
  j["token_ids"] = c.token_ids;
  j["finish_reason"] = c.finish_reason;
  if (c.invalid_utf8_replaced) j["invalid_utf8_replaced"] = true;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, completion& c) {
  detail::get_if_present(j, "text", c.text);
  detail::get_if_present(j, "tokens", c.tokens);
  detail::get_if_present(j, "token_ids", c.token_ids);
  detail::get_if_present(j, "finish_reason", c.finish_reason);
  detail::get_if_present(j, "invalid_utf8_replaced", c.invalid_utf8_replaced);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const generation& g) {
  j = nlohmann::json::object();
  j["choices"] = g.choices;
  j["usage"] = g.usage;
  j["model"] = g.model;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, generation& g) {
  detail::get_if_present(j, "choices", g.choices);
  detail::get_if_present(j, "usage", g.usage);
  detail::get_if_present(j, "model", g.model);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const scoring& s) {
  j = nlohmann::json::object();
  j["logprob"] = s.logprob;
  j["tokens"] = s.tokens;
  j["approximate"] = s.approximate;
  j["usage"] = s.usage;
  if (s.boundary != scoring_boundary::unknown) j["boundary"] = std::string(to_string(s.boundary));
  if (s.boundary_merged) j["boundary_merged"] = true;
  if (s.prompt_tokens != 0) j["prompt_tokens"] = s.prompt_tokens;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, scoring& s) {
  detail::get_if_present(j, "logprob", s.logprob);
  detail::get_if_present(j, "tokens", s.tokens);
  detail::get_if_present(j, "approximate", s.approximate);
  detail::get_if_present(j, "usage", s.usage);
  s.boundary = scoring_boundary::unknown;
  if (auto it = j.find("boundary"); it != j.end() && it->is_string())
    for (auto b : {scoring_boundary::given_ids, scoring_boundary::joint_tokenization, scoring_boundary::separate})
      if (it->get<std::string>() == to_string(b)) s.boundary = b;
  detail::get_if_present(j, "boundary_merged", s.boundary_merged);
  detail::get_if_present(j, "prompt_tokens", s.prompt_tokens);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const embeddings& e) {
  j = nlohmann::json::object();
  j["vectors"] = e.vectors;
  j["usage"] = e.usage;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, embeddings& e) {
  detail::get_if_present(j, "vectors", e.vectors);
  detail::get_if_present(j, "usage", e.usage);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const criterion_score& c) {
  j = nlohmann::json::object();
  j["name"] = c.name;
  j["score"] = c.score;
  j["rationale"] = c.rationale;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, criterion_score& c) {
  detail::get_if_present(j, "name", c.name);
  detail::get_if_present(j, "score", c.score);
  detail::get_if_present(j, "rationale", c.rationale);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const parse_status& s) { j = to_string(s); }

SELFALIGN_DECL void from_json(const nlohmann::json& j, parse_status& s) {
  const auto t = j.get<std::string>();
  s = t == "ok" ? parse_status::ok : t == "repaired" ? parse_status::repaired : parse_status::failed;
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const judgement& g) {
  j = nlohmann::json::object();
  j["criteria"] = g.criteria;
  j["rationale"] = g.rationale;
  j["status"] = g.status;
  j["attempts"] = g.attempts;
  j["raw"] = g.raw;
  j["usage"] = g.usage;
  j["score"] = g.score ? nlohmann::json(*g.score) : nlohmann::json(nullptr);
  if (g.response_chars_omitted > 0) j["response_chars_omitted"] = g.response_chars_omitted;  // only when cut
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, judgement& g) {
  detail::get_if_present(j, "score", g.score);
  detail::get_if_present(j, "criteria", g.criteria);
  detail::get_if_present(j, "rationale", g.rationale);
  detail::get_if_present(j, "status", g.status);
  detail::get_if_present(j, "attempts", g.attempts);
  detail::get_if_present(j, "raw", g.raw);
  detail::get_if_present(j, "usage", g.usage);
  detail::get_if_present(j, "response_chars_omitted", g.response_chars_omitted);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const error& e) {
  j = nlohmann::json::object();
  j["code"] = to_string(e.code);
  j["message"] = e.message;
  j["http_status"] = e.http_status;
  j["retryable"] = e.retryable;
  if (!e.type.empty()) j["type"] = e.type;
  if (!e.server_code.empty()) j["server_code"] = e.server_code;
  if (!e.request_id.empty()) j["request_id"] = e.request_id;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, error& e) {
  errc c = errc::internal;
  if (!from_string(j.value("code", std::string{}), c)) c = errc::internal;
  e = error(c, j.value("message", std::string{}), j.value("http_status", 0));
  detail::get_if_present(j, "retryable", e.retryable);
  detail::get_if_present(j, "type", e.type);
  detail::get_if_present(j, "server_code", e.server_code);
  detail::get_if_present(j, "request_id", e.request_id);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const capabilities& c) {
  j = nlohmann::json::object();
  j["chat"] = c.chat;
  j["raw_text"] = c.raw_text;
  j["token_ids"] = c.token_ids;
  j["token_id_prompts"] = c.token_id_prompts;
  j["max_top_logprobs"] = c.max_top_logprobs;
  j["native_n"] = c.native_n;
  j["top_k"] = c.top_k;
  j["include_stop"] = c.include_stop;
  j["max_stop"] = c.max_stop;
  j["max_prompts"] = c.max_prompts;
  j["seed"] = c.seed;
  j["scoring"] = c.scoring;
  j["scoring_exact"] = c.scoring_exact;
  j["tokenize"] = c.tokenize;
  j["embeddings"] = c.embeddings;
  j["server"] = c.server;
  j["context_size"] = c.context_size;
  j["max_concurrent_calls"] = c.max_concurrent_calls;
  if (!c.default_model.empty()) j["default_model"] = c.default_model;
  if (!c.fixed_request_fields.empty()) j["fixed_request_fields"] = c.fixed_request_fields;
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, capabilities& c) {
  detail::get_if_present(j, "chat", c.chat);
  detail::get_if_present(j, "raw_text", c.raw_text);
  detail::get_if_present(j, "token_ids", c.token_ids);
  detail::get_if_present(j, "token_id_prompts", c.token_id_prompts);
  detail::get_if_present(j, "max_top_logprobs", c.max_top_logprobs);
  detail::get_if_present(j, "native_n", c.native_n);
  detail::get_if_present(j, "top_k", c.top_k);
  detail::get_if_present(j, "include_stop", c.include_stop);
  detail::get_if_present(j, "max_stop", c.max_stop);
  detail::get_if_present(j, "max_prompts", c.max_prompts);
  detail::get_if_present(j, "seed", c.seed);
  detail::get_if_present(j, "scoring", c.scoring);
  detail::get_if_present(j, "scoring_exact", c.scoring_exact);
  detail::get_if_present(j, "context_size", c.context_size);
  detail::get_if_present(j, "max_concurrent_calls", c.max_concurrent_calls);
  detail::get_if_present(j, "tokenize", c.tokenize);
  detail::get_if_present(j, "embeddings", c.embeddings);
  detail::get_if_present(j, "server", c.server);
  detail::get_if_present(j, "default_model", c.default_model);
  detail::get_if_present(j, "fixed_request_fields", c.fixed_request_fields);
}

SELFALIGN_END_NAMESPACE
