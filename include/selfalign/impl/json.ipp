// selfalign: definitions for <selfalign/json.hpp> (JSON (de)serialization of the vocabulary types with nlohmann/json)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/json_fields.hpp>
#include <selfalign/json.hpp>


SELFALIGN_BEGIN_NAMESPACE

namespace detail {
// The field tables of the vocabulary types (detail/json_fields.hpp): each field listed once.
inline constexpr auto message_fields = json_fields(
    json_field("role", &message::role),
    json_field("content", &message::content));
// Without logit_bias: its keys are token ids written as strings (to_json/from_json below).
inline constexpr auto sampling_fields = json_fields(
    json_field("temperature", &sampling::temperature),
    json_field("top_p", &sampling::top_p),
    json_field("top_k", &sampling::top_k),
    json_field("max_tokens", &sampling::max_tokens),
    json_field("stop", &sampling::stop),
    json_field("include_stop", &sampling::include_stop),
    json_field("n", &sampling::n),
    json_field("logprobs", &sampling::logprobs),
    json_field("return_token_ids", &sampling::return_token_ids).omit_when_default(),  // only when set: older cache keys stay valid
    json_field("seed", &sampling::seed));
inline constexpr auto generation_request_fields = json_fields(
    json_field("model", &generation_request::model),
    json_field("prompt", &generation_request::prompt),
    json_field("sampling", &generation_request::sampling));
inline constexpr auto scoring_request_fields = json_fields(
    json_field("model", &scoring_request::model),
    json_field("prompt", &scoring_request::prompt),
    json_field("continuation", &scoring_request::continuation),
    json_field("continuation_token_ids", &scoring_request::continuation_token_ids),
    json_field("top_logprobs", &scoring_request::top_logprobs));
inline constexpr auto embedding_request_fields = json_fields(
    json_field("model", &embedding_request::model),
    json_field("texts", &embedding_request::texts));
inline constexpr auto criterion_fields = json_fields(
    json_field("name", &criterion::name),
    json_field("description", &criterion::description),
    json_field("rubric", &criterion::rubric),
    json_field("weight", &criterion::weight));
inline constexpr auto judge_request_fields = json_fields(
    json_field("query", &judge_request::query),
    json_field("response", &judge_request::response),
    json_field("criteria", &judge_request::criteria),
    json_field("guidance", &judge_request::guidance),
    json_field("seed", &judge_request::seed));
inline constexpr auto top_logprob_fields = json_fields(
    json_field("token", &top_logprob::token),
    json_field("logprob", &top_logprob::logprob),
    json_field("id", &top_logprob::id).omit_when_default());
inline constexpr auto token_logprob_fields = json_fields(
    json_field("token", &token_logprob::token),
    json_field("logprob", &token_logprob::logprob),
    json_field("top", &token_logprob::top),
    json_field("id", &token_logprob::id).omit_when_default());
inline constexpr auto usage_fields = json_fields(
    json_field("prompt_tokens", &usage::prompt_tokens),
    json_field("completion_tokens", &usage::completion_tokens),
    json_field("cached_prompt_tokens", &usage::cached_prompt_tokens),
    json_field("requests", &usage::requests),
    json_field("from_cache", &usage::from_cache),
    json_field("estimated", &usage::estimated).omit_when_default());
inline constexpr auto completion_fields = json_fields(
    json_field("text", &completion::text),
    json_field("tokens", &completion::tokens),
    json_field("token_ids", &completion::token_ids),
    json_field("finish_reason", &completion::finish_reason),
    json_field("invalid_utf8_replaced", &completion::invalid_utf8_replaced).omit_when_default());
inline constexpr auto generation_fields = json_fields(
    json_field("choices", &generation::choices),
    json_field("usage", &generation::usage),
    json_field("model", &generation::model));
// Without boundary: an enum written by name, read leniently (to_json/from_json below).
inline constexpr auto scoring_fields = json_fields(
    json_field("logprob", &scoring::logprob),
    json_field("tokens", &scoring::tokens),
    json_field("approximate", &scoring::approximate),
    json_field("usage", &scoring::usage),
    json_field("boundary_merged", &scoring::boundary_merged).omit_when_default(),
    json_field("prompt_tokens", &scoring::prompt_tokens).omit_when_default());
inline constexpr auto embeddings_fields = json_fields(
    json_field("vectors", &embeddings::vectors),
    json_field("usage", &embeddings::usage));
inline constexpr auto criterion_score_fields = json_fields(
    json_field("name", &criterion_score::name),
    json_field("score", &criterion_score::score),
    json_field("rationale", &criterion_score::rationale));
inline constexpr auto judgement_fields = json_fields(
    json_field("criteria", &judgement::criteria),
    json_field("rationale", &judgement::rationale),
    json_field("status", &judgement::status),
    json_field("attempts", &judgement::attempts),
    json_field("raw", &judgement::raw),
    json_field("usage", &judgement::usage),
    json_field("score", &judgement::score),
    json_field("response_chars_omitted", &judgement::response_chars_omitted).omit_when_default());  // only when cut
inline constexpr auto capabilities_fields = json_fields(
    json_field("chat", &capabilities::chat),
    json_field("raw_text", &capabilities::raw_text),
    json_field("token_ids", &capabilities::token_ids),
    json_field("token_id_prompts", &capabilities::token_id_prompts),
    json_field("max_top_logprobs", &capabilities::max_top_logprobs),
    json_field("native_n", &capabilities::native_n),
    json_field("top_k", &capabilities::top_k),
    json_field("include_stop", &capabilities::include_stop),
    json_field("max_stop", &capabilities::max_stop),
    json_field("max_prompts", &capabilities::max_prompts),
    json_field("seed", &capabilities::seed),
    json_field("scoring", &capabilities::scoring),
    json_field("scoring_exact", &capabilities::scoring_exact),
    json_field("tokenize", &capabilities::tokenize),
    json_field("embeddings", &capabilities::embeddings),
    json_field("server", &capabilities::server),
    json_field("context_size", &capabilities::context_size),
    json_field("max_concurrent_calls", &capabilities::max_concurrent_calls),
    json_field("default_model", &capabilities::default_model).omit_when_default(),
    json_field("fixed_request_fields", &capabilities::fixed_request_fields).omit_when_default());
}  // namespace detail

SELFALIGN_DECL void to_json(nlohmann::json& j, const message& m) {
  detail::write_json_fields(j, m, detail::message_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, message& m) {
  detail::read_json_fields(j, m, detail::message_fields);
}

// prompt stays hand-written: one of three shapes (or a bare string), not a set of fields.
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
  detail::write_json_fields(j, s, detail::sampling_fields);
  if (!s.logit_bias.empty()) {
    nlohmann::json bias = nlohmann::json::object();
    for (const auto& [id, b] : s.logit_bias) bias[std::to_string(id)] = b;
    j["logit_bias"] = std::move(bias);
  }
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, sampling& s) {
  detail::read_json_fields(j, s, detail::sampling_fields);
  s.logit_bias.clear();
  if (auto it = j.find("logit_bias"); it != j.end() && it->is_object())
    for (const auto& [k, v] : it->items()) s.logit_bias[static_cast<token_id>(std::stol(k))] = v.get<double>();
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const generation_request& r) {
  detail::write_json_fields(j, r, detail::generation_request_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, generation_request& r) {
  detail::read_json_fields(j, r, detail::generation_request_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const scoring_request& r) {
  detail::write_json_fields(j, r, detail::scoring_request_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, scoring_request& r) {
  detail::read_json_fields(j, r, detail::scoring_request_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const embedding_request& r) {
  detail::write_json_fields(j, r, detail::embedding_request_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, embedding_request& r) {
  detail::read_json_fields(j, r, detail::embedding_request_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const criterion& c) {
  detail::write_json_fields(j, c, detail::criterion_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, criterion& c) {
  detail::read_json_fields(j, c, detail::criterion_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const judge_request& r) {
  detail::write_json_fields(j, r, detail::judge_request_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, judge_request& r) {
  detail::read_json_fields(j, r, detail::judge_request_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const top_logprob& t) {
  detail::write_json_fields(j, t, detail::top_logprob_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, top_logprob& t) {
  detail::read_json_fields(j, t, detail::top_logprob_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const token_logprob& t) {
  detail::write_json_fields(j, t, detail::token_logprob_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, token_logprob& t) {
  detail::read_json_fields(j, t, detail::token_logprob_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const usage& u) {
  detail::write_json_fields(j, u, detail::usage_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, usage& u) {
  detail::read_json_fields(j, u, detail::usage_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const completion& c) {
  detail::write_json_fields(j, c, detail::completion_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, completion& c) {
  detail::read_json_fields(j, c, detail::completion_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const generation& g) {
  detail::write_json_fields(j, g, detail::generation_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, generation& g) {
  detail::read_json_fields(j, g, detail::generation_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const scoring& s) {
  detail::write_json_fields(j, s, detail::scoring_fields);
  if (s.boundary != scoring_boundary::unknown) j["boundary"] = std::string(to_string(s.boundary));
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, scoring& s) {
  detail::read_json_fields(j, s, detail::scoring_fields);
  s.boundary = scoring_boundary::unknown;
  if (auto it = j.find("boundary"); it != j.end() && it->is_string())
    for (auto b : {scoring_boundary::given_ids, scoring_boundary::joint_tokenization, scoring_boundary::separate})
      if (it->get<std::string>() == to_string(b)) s.boundary = b;
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const embeddings& e) {
  detail::write_json_fields(j, e, detail::embeddings_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, embeddings& e) {
  detail::read_json_fields(j, e, detail::embeddings_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const criterion_score& c) {
  detail::write_json_fields(j, c, detail::criterion_score_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, criterion_score& c) {
  detail::read_json_fields(j, c, detail::criterion_score_fields);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const parse_status& s) { j = to_string(s); }

SELFALIGN_DECL void from_json(const nlohmann::json& j, parse_status& s) {
  const auto t = j.get<std::string>();
  s = t == "ok" ? parse_status::ok : t == "repaired" ? parse_status::repaired : parse_status::failed;
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const judgement& g) {
  detail::write_json_fields(j, g, detail::judgement_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, judgement& g) {
  detail::read_json_fields(j, g, detail::judgement_fields);
}

// error stays hand-written: its code is written by name, and reading goes through the constructor,
// which derives `retryable` from the code and the HTTP status before the JSON may override it.
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
  detail::write_json_fields(j, c, detail::capabilities_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, capabilities& c) {
  detail::read_json_fields(j, c, detail::capabilities_fields);
}

SELFALIGN_END_NAMESPACE
