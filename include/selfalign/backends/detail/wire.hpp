// selfalign: the OpenAI-compatible wire format — request bodies per server preset and tolerant
// parsers for every response shape the servers send (no sockets)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/detail/errors.hpp>
#include <selfalign/backends/options.hpp>
#include <selfalign/config.hpp>
#include <selfalign/json_read.hpp>
#include <selfalign/result.hpp>
#include <selfalign/seed.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// One piece of a streamed answer, handed to the streaming callback.
struct stream_chunk {
  std::size_t index = 0;              ///< which choice (n > 1 streams interleave)
  std::string text;                   ///< the new text of that choice
  std::vector<token_logprob> tokens;  ///< logprobs of the new tokens, when requested
  std::string finish_reason;          ///< set on the choice's last chunk
};

/// A model the server lists at GET /v1/models.
struct model_info {
  std::string id;
  std::string owned_by;
  std::int64_t max_model_len = 0;  ///< vLLM and SGLang report it; 0 when unknown
};

namespace detail {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// Merges `extra` into `body`: objects merge recursively, other values replace.
inline void merge_extra(json& body, const json& extra) {
  if (!extra.is_object()) return;
  for (auto it = extra.begin(); it != extra.end(); ++it) {
    auto dst = body.find(it.key());
    if (dst != body.end() && dst->is_object() && it->is_object()) merge_extra(*dst, *it);
    else body[it.key()] = *it;
  }
}

/// Rejects what the server would silently ignore or refuse, so no answer is quietly wrong.
[[nodiscard]] inline result<void> check_sampling(const server_profile& p, const sampling& s, bool chat) {
  const std::string_view server = to_string(p.preset);
  if (s.n < 1) return fail(errc::invalid_argument, fmt::format("sampling.n must be at least 1 (got {})", s.n));
  if (s.max_tokens < 0) return fail(errc::invalid_argument, "sampling.max_tokens must not be negative");
  if (s.top_k > 0 && !p.top_k)
    return fail(errc::unsupported, fmt::format("the '{}' server does not accept top_k sampling (asked top_k={}); use the vllm, sglang or llamacpp preset or leave top_k at 0", server, s.top_k));
  if (!s.logit_bias.empty() && !p.logit_bias)
    return fail(errc::unsupported, fmt::format("the '{}' server ignores logit_bias", server));
  if (p.max_stop >= 0 && static_cast<int>(s.stop.size()) > p.max_stop)
    return fail(errc::unsupported, fmt::format("the '{}' server accepts at most {} stop strings (got {})", server, p.max_stop, s.stop.size()));
  if (s.include_stop && !s.stop.empty() && !p.include_stop_field)
    return fail(errc::unsupported, fmt::format("the '{}' server cannot keep the matched stop string (include_stop); vLLM and SGLang can", server));
  if (s.logprobs >= 0) {
    const int cap = chat ? p.max_chat_top_logprobs : p.max_completion_logprobs;
    if (cap < 0)
      return fail(errc::unsupported, fmt::format("the '{}' server returns no per-token logprobs on /v1/completions; use a chat prompt", server));
    if (s.logprobs > cap)
      return fail(errc::unsupported, fmt::format("the '{}' server returns at most {} alternatives per token on {} (asked {})", server, cap,
                                                 chat ? "/v1/chat/completions" : "/v1/completions", s.logprobs));
  }
  return {};
}

inline void put_sampling(json& body, const server_profile& p, const sampling& s, std::string_view token_field,
                         std::optional<std::uint64_t> seed, int n) {
  body["temperature"] = s.temperature;
  body["top_p"] = s.top_p;
  body[std::string(token_field)] = s.max_tokens;
  if (!s.stop.empty()) body["stop"] = s.stop;  // always an array: TGI refuses a string
  if (seed) body["seed"] = server_safe_seed(*seed);
  if (n != 1) body["n"] = n;
  if (s.top_k > 0) body["top_k"] = s.top_k;
  else if (p.top_k_off) body["top_k"] = *p.top_k_off;
  // The server's default samplers, turned off (fields set above win): see server_profile.
  for (auto it = p.neutral_samplers.begin(); it != p.neutral_samplers.end(); ++it)
    if (!body.contains(it.key())) body[it.key()] = *it;
  if (!s.logit_bias.empty()) {
    json bias = json::object();
    for (const auto& [id, b] : s.logit_bias) bias[std::to_string(id)] = b;
    body["logit_bias"] = std::move(bias);
  }
  if (s.include_stop && !s.stop.empty()) {
    if (p.preset == server_preset::sglang) body["no_stop_trim"] = true;
    else body["include_stop_str_in_output"] = true;
  }
}

/// Asks for the generated token ids (sampling::return_token_ids). vLLM: `return_token_ids` (newer
/// versions add `token_ids` to each choice) and, when no logprobs were asked, `logprobs` 0 with
/// `return_tokens_as_token_ids` (older versions: the ids come spelled "token_id:N"). llama.cpp:
/// logprobs of 1 alternative, whose entries carry `id`. Others: nothing (no ids come back).
inline void put_token_id_request(json& body, const server_profile& p, const sampling& s, bool chat) {
  if (!s.return_token_ids) return;
  const bool logprobs_for_ids = s.logprobs < 0;  // the caller did not ask logprobs: ask them for the ids only
  if (p.preset == server_preset::vllm) {
    body["return_token_ids"] = true;
    if (!logprobs_for_ids) return;
    body["return_tokens_as_token_ids"] = true;
  } else if (p.preset != server_preset::llamacpp || !logprobs_for_ids) {
    return;
  }
  const int k = p.preset == server_preset::llamacpp ? 1 : 0;  // llama.cpp lists no entries with n_probs 0
  if (chat) {
    body["logprobs"] = true;
    body["top_logprobs"] = k;
  } else {
    body["logprobs"] = k;
  }
}

/// The body of POST /chat/completions.
[[nodiscard]] inline json chat_body(const server_profile& p, std::string_view token_field, const std::string& model,
                                    const std::vector<message>& messages, const sampling& s,
                                    std::optional<std::uint64_t> seed, int n, bool stream) {
  json body = json::object();
  body["model"] = model;
  json msgs = json::array();
  for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  body["messages"] = std::move(msgs);
  put_sampling(body, p, s, token_field, seed, n);
  if (s.logprobs >= 0) {
    body["logprobs"] = true;
    body["top_logprobs"] = s.logprobs;  // explicit 0: llama.cpp defaults to 20 when omitted
  }
  put_token_id_request(body, p, s, true);
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

/// The body of POST /completions for a raw-text or token-id prompt.
[[nodiscard]] inline json completion_body(const server_profile& p, const std::string& model, const prompt& pr,
                                          const sampling& s, std::optional<std::uint64_t> seed, int n, bool stream) {
  json body = json::object();
  body["model"] = model;
  if (pr.is_tokens()) body["prompt"] = pr.token_ids();
  else body["prompt"] = pr.raw_text();
  put_sampling(body, p, s, "max_tokens", seed, n);
  if (s.logprobs >= 0) body["logprobs"] = s.logprobs;
  put_token_id_request(body, p, s, false);
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

// ---------------------------------------------------------------------------------------------
// Response parsing. Every parser tolerates unknown fields, nulls and missing optional parts, and
// reports a wrong shape as errc::bad_response (never an exception, never a made-up number).
// ---------------------------------------------------------------------------------------------

[[nodiscard]] inline const json* field(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return (it == j.end() || it->is_null()) ? nullptr : &*it;
}
[[nodiscard]] inline std::string str_field(const json& j, const char* key) {
  const json* v = field(j, key);
  return (v && v->is_string()) ? v->get<std::string>() : std::string{};
}
[[nodiscard]] inline std::optional<double> num_field(const json& j, const char* key) {
  const json* v = field(j, key);
  if (v && v->is_number()) return v->get<double>();
  return std::nullopt;
}
[[nodiscard]] inline std::optional<token_id> id_field(const json& j, const char* key) {
  const json* v = field(j, key);
  if (v && (v->is_number_integer() || v->is_number_unsigned())) return static_cast<token_id>(v->get<std::int64_t>());
  return std::nullopt;
}

/// vLLM's `return_tokens_as_token_ids` spells tokens "token_id:123".
[[nodiscard]] inline std::optional<token_id> id_from_token_text(std::string_view t) {
  constexpr std::string_view tag = "token_id:";
  if (t.substr(0, tag.size()) != tag || t.size() == tag.size()) return std::nullopt;
  std::int64_t v = 0;
  for (char c : t.substr(tag.size())) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
    if (v > 0x7fffffff) return std::nullopt;
  }
  return static_cast<token_id>(v);
}

/// The token, id and logprob of a chat-shape entry or alternative ({token|tok_str, id?, logprob|prob});
/// false when it carries neither a logprob nor a probability.
[[nodiscard]] inline bool read_token_fields(const json& e, std::string& token, std::optional<token_id>& id, double& logprob) {
  token = str_field(e, "token");
  if (token.empty()) token = str_field(e, "tok_str");
  id = id_field(e, "id");
  if (!id) id = id_from_token_text(token);
  if (auto lp = num_field(e, "logprob")) logprob = *lp;
  else if (auto pr = num_field(e, "prob")) logprob = *pr > 0 ? std::log(*pr) : -INFINITY;
  else return false;
  return true;
}

/// One entry of the chat shape: {token, logprob, bytes?, id?, top_logprobs?: [{token, logprob, id?}]}.
/// llama.cpp's native /completion uses the same shape; its older builds send {tok_str, prob}.
[[nodiscard]] inline result<token_logprob> parse_chat_logprob_entry(const json& e) {
  if (!e.is_object()) return fail(errc::bad_response, "a logprobs entry is not an object");
  token_logprob t;
  if (!read_token_fields(e, t.token, t.id, t.logprob))
    return fail(errc::bad_response, fmt::format("the logprobs entry for token '{}' has no logprob", t.token));
  const json* tops = field(e, "top_logprobs");
  if (!tops) tops = field(e, "probs");
  if (!tops) tops = field(e, "top_probs");
  if (tops && tops->is_array()) {
    for (const auto& a : *tops) {
      top_logprob alt;
      if (a.is_object() && read_token_fields(a, alt.token, alt.id, alt.logprob)) t.top.push_back(std::move(alt));
    }
  }
  return t;
}

/// A legacy `top_logprobs[i]` map {token_text: logprob}, best first.
[[nodiscard]] inline std::vector<top_logprob> parse_top_map(const json& m) {
  std::vector<top_logprob> out;
  if (!m.is_object()) return out;
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (!it->is_number()) continue;
    top_logprob a;
    a.token = it.key();
    a.id = id_from_token_text(a.token);
    a.logprob = it->get<double>();
    out.push_back(std::move(a));
  }
  std::stable_sort(out.begin(), out.end(), [](const top_logprob& a, const top_logprob& b) { return a.logprob > b.logprob; });
  return out;
}

/// Reads a choice's `logprobs`, whichever shape it has:
///   chat:   {"content": [entry...]}            (chat endpoint; llama.cpp and Ollama completions)
///   legacy: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}   (OpenAI, vLLM, SGLang)
///   TGI:    [float...]                          (TGI completions; no token texts)
/// Legacy entries whose logprob is null (the first echoed prompt token) get NaN.
[[nodiscard]] inline result<std::vector<token_logprob>> parse_logprobs(const json& lp) {
  std::vector<token_logprob> out;
  if (lp.is_null()) return out;
  if (lp.is_array()) {
    for (const auto& v : lp) {
      token_logprob t;
      t.logprob = v.is_number() ? v.get<double>() : std::nan("");
      out.push_back(std::move(t));
    }
    return out;
  }
  if (!lp.is_object()) return fail(errc::bad_response, "`logprobs` is neither an object, an array nor null");
  if (const json* content = field(lp, "content")) {
    if (!content->is_array()) return fail(errc::bad_response, "`logprobs.content` is not an array");
    out.reserve(content->size());
    for (const auto& e : *content) {
      if (e.is_null()) continue;
      auto t = parse_chat_logprob_entry(e);
      if (!t) return unexpected(t.error());
      out.push_back(std::move(*t));
    }
    return out;
  }
  const json* tokens = field(lp, "tokens");
  const json* values = field(lp, "token_logprobs");
  if (!tokens && !values) return out;  // e.g. {"refusal": ...} only
  const std::size_t n = std::max(tokens && tokens->is_array() ? tokens->size() : 0,
                                 values && values->is_array() ? values->size() : 0);
  const json* tops = field(lp, "top_logprobs");
  out.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    token_logprob& t = out[i];
    if (tokens && tokens->is_array() && i < tokens->size() && (*tokens)[i].is_string()) {
      t.token = (*tokens)[i].get<std::string>();
      t.id = id_from_token_text(t.token);
    }
    if (values && values->is_array() && i < values->size() && (*values)[i].is_number()) t.logprob = (*values)[i].get<double>();
    else t.logprob = std::nan("");
    if (tops && tops->is_array() && i < tops->size()) t.top = parse_top_map((*tops)[i]);
  }
  return out;
}

/// usage: prompt/completion tokens and cached prompt tokens; `requests` = 1 (one HTTP answer).
[[nodiscard]] inline usage parse_usage(const json& body) {
  usage u;
  u.requests = 1;
  const json* j = field(body, "usage");
  if (!j || !j->is_object()) return u;
  if (auto v = num_field(*j, "prompt_tokens")) u.prompt_tokens = static_cast<std::int64_t>(*v);
  if (auto v = num_field(*j, "completion_tokens")) u.completion_tokens = static_cast<std::int64_t>(*v);
  if (const json* d = field(*j, "prompt_tokens_details"))
    if (auto v = num_field(*d, "cached_tokens")) u.cached_prompt_tokens = static_cast<std::int64_t>(*v);
  return u;
}

/// A chat or completions answer. Choices are ordered by their `index`.
[[nodiscard]] inline result<generation> parse_generation(const json& body, bool chat) {
  if (!body.is_object()) return fail(errc::bad_response, "the answer is not a JSON object");
  const json* choices = field(body, "choices");
  if (!choices || !choices->is_array())
    return fail(errc::bad_response, "the answer has no `choices` array");
  generation g;
  g.model = str_field(body, "model");
  g.usage = parse_usage(body);
  std::vector<std::pair<std::int64_t, completion>> indexed;
  std::int64_t position = 0;
  for (const auto& c : *choices) {
    if (!c.is_object()) return fail(errc::bad_response, "a choice is not an object");
    completion comp;
    if (chat) {
      const json* msg = field(c, "message");
      if (!msg || !msg->is_object()) return fail(errc::bad_response, "a chat choice has no `message` object");
      comp.text = str_field(*msg, "content");  // null content (refusal, tool call) reads as ""
    } else {
      const json* text = field(c, "text");
      if (text && !text->is_string()) return fail(errc::bad_response, "a completion choice's `text` is not a string");
      comp.text = text ? text->get<std::string>() : std::string{};
    }
    comp.finish_reason = str_field(c, "finish_reason");
    if (const json* lp = field(c, "logprobs")) {
      auto toks = parse_logprobs(*lp);
      if (!toks) return unexpected(toks.error());
      comp.tokens = std::move(*toks);
    }
    if (const json* ids = field(c, "token_ids"); ids && ids->is_array()) {
      for (const auto& v : *ids)
        if (v.is_number_integer()) comp.token_ids.push_back(v.get<token_id>());
    } else if (!comp.tokens.empty() &&
               std::all_of(comp.tokens.begin(), comp.tokens.end(), [](const token_logprob& t) { return t.id.has_value(); })) {
      for (const auto& t : comp.tokens) comp.token_ids.push_back(*t.id);
    }
    const json* idx = field(c, "index");
    indexed.emplace_back(idx && idx->is_number_integer() ? idx->get<std::int64_t>() : position, std::move(comp));
    ++position;
  }
  std::stable_sort(indexed.begin(), indexed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [i, c] : indexed) g.choices.push_back(std::move(c));
  return g;
}

/// POST /embeddings: {"data": [{"index", "embedding": [float]}], "usage"}.
[[nodiscard]] inline result<embeddings> parse_embeddings(const json& body, std::size_t expected) {
  const json* data = field(body, "data");
  if (!data || !data->is_array()) return fail(errc::bad_response, "the embeddings answer has no `data` array");
  std::vector<std::pair<std::int64_t, std::vector<float>>> rows;
  std::int64_t position = 0;
  for (const auto& d : *data) {
    const json* v = field(d, "embedding");
    if (!v || !v->is_array()) return fail(errc::bad_response, "an embeddings entry has no `embedding` array (base64 is not requested)");
    std::vector<float> vec;
    vec.reserve(v->size());
    for (const auto& x : *v) {
      if (!x.is_number()) return fail(errc::bad_response, "an embedding holds a non-number");
      vec.push_back(x.get<float>());
    }
    const json* idx = field(d, "index");
    rows.emplace_back(idx && idx->is_number_integer() ? idx->get<std::int64_t>() : position, std::move(vec));
    ++position;
  }
  if (rows.size() != expected)
    return fail(errc::bad_response, fmt::format("asked for {} embeddings, the server returned {}", expected, rows.size()));
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  embeddings out;
  for (auto& r : rows) out.vectors.push_back(std::move(r.second));
  for (const auto& v : out.vectors)
    if (v.size() != out.vectors.front().size()) return fail(errc::bad_response, "the embeddings have different dimensions");
  out.usage = parse_usage(body);
  return out;
}

/// GET /models: {"object": "list", "data": [{"id", "owned_by", "max_model_len"?}]}. Ollama's
/// native /api/tags shape {"models": [{"name"}]} is accepted too.
[[nodiscard]] inline result<std::vector<model_info>> parse_models(const json& body) {
  const json* data = field(body, "data");
  if (!data) data = field(body, "models");
  if (!data || !data->is_array()) return fail(errc::bad_response, "the models answer has no `data` array");
  std::vector<model_info> out;
  for (const auto& m : *data) {
    model_info info;
    info.id = str_field(m, "id");
    if (info.id.empty()) info.id = str_field(m, "name");
    info.owned_by = str_field(m, "owned_by");
    if (auto v = num_field(m, "max_model_len")) info.max_model_len = static_cast<std::int64_t>(*v);
    if (!info.id.empty()) out.push_back(std::move(info));
  }
  return out;
}

/// Token ids from a /tokenize answer: {"tokens": [int | {"id", "piece"}]} (vLLM, SGLang, llama.cpp)
/// or TGI's [{"id", "text"}].
[[nodiscard]] inline result<std::vector<token_id>> parse_tokenize(const json& body) {
  const json* toks = body.is_array() ? &body : field(body, "tokens");
  if (!toks) toks = field(body, "input_ids");
  if (!toks || !toks->is_array()) return fail(errc::bad_response, "the tokenize answer has no `tokens` array");
  std::vector<token_id> out;
  out.reserve(toks->size());
  for (const auto& t : *toks) {
    if (t.is_number_integer()) out.push_back(t.get<token_id>());
    else if (auto id = id_field(t, "id")) out.push_back(*id);
    else return fail(errc::bad_response, "a token in the tokenize answer is not an id");
  }
  return out;
}

/// Text from a /detokenize answer: "prompt" (vLLM), "content" (llama.cpp) or "text" (SGLang).
[[nodiscard]] inline result<std::string> parse_detokenize(const json& body) {
  for (const char* key : {"prompt", "content", "text"})
    if (const json* v = field(body, key); v && v->is_string()) return v->get<std::string>();
  return fail(errc::bad_response, "the detokenize answer has no `prompt`, `content` or `text` string");
}

/// vLLM's `prompt_logprobs`: one entry per prompt position, null or {"<id>": {logprob, rank,
/// decoded_token}} holding the actual token plus the top k. Reads positions [start, start+ids.size())
/// where the actual tokens are `ids`; `k` alternatives (by rank) go to `top`.
[[nodiscard]] inline result<std::vector<token_logprob>> parse_prompt_logprobs(const json& plp, std::size_t start,
                                                                             std::span<const token_id> ids, int k) {
  if (!plp.is_array()) return fail(errc::bad_response, "`prompt_logprobs` is not an array");
  if (plp.size() < start + ids.size())
    return fail(errc::bad_response, fmt::format("`prompt_logprobs` has {} positions, expected at least {}", plp.size(), start + ids.size()));
  std::vector<token_logprob> out;
  out.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const json& pos = plp[start + i];
    if (!pos.is_object())
      return fail(errc::bad_response, fmt::format("`prompt_logprobs[{}]` is null; the continuation must not start the prompt", start + i));
    const std::string key = std::to_string(ids[i]);
    const json* mine = field(pos, key.c_str());
    if (!mine) return fail(errc::bad_response, fmt::format("`prompt_logprobs[{}]` does not hold the prompt token {}", start + i, ids[i]));
    token_logprob t;
    t.id = ids[i];
    t.token = str_field(*mine, "decoded_token");
    auto lp = num_field(*mine, "logprob");
    if (!lp) return fail(errc::bad_response, fmt::format("`prompt_logprobs[{}][\"{}\"]` has no logprob", start + i, key));
    t.logprob = *lp;
    std::vector<std::pair<double, top_logprob>> alts;
    for (auto it = pos.begin(); it != pos.end(); ++it) {
      auto rank = num_field(*it, "rank");
      auto alp = num_field(*it, "logprob");
      if (!rank || !alp || *rank > k) continue;
      top_logprob a;
      a.token = str_field(*it, "decoded_token");
      try {
        a.id = static_cast<token_id>(std::stol(it.key()));
      } catch (...) {
        continue;
      }
      a.logprob = *alp;
      alts.emplace_back(*rank, std::move(a));
    }
    std::stable_sort(alts.begin(), alts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& a : alts) t.top.push_back(std::move(a.second));
    out.push_back(std::move(t));
  }
  return out;
}

/// One teacher-forcing step on llama.cpp's native /completion: reads `target`'s logprob from the
/// first predicted position's top-N. Found: exact. Not found: the smallest listed logprob, an
/// upper bound, and `exact` false.
struct forced_step {
  token_logprob token;
  bool exact = false;
};
[[nodiscard]] inline result<forced_step> parse_teacher_step(const json& body, token_id target, int k) {
  const json* probs = field(body, "completion_probabilities");
  if (!probs) probs = field(body, "probs");
  if (!probs || !probs->is_array() || probs->empty())
    return fail(errc::bad_response, "the /completion answer has no `completion_probabilities` (is n_probs supported?)");
  auto first = parse_chat_logprob_entry((*probs)[0]);
  if (!first) return unexpected(first.error());
  forced_step step;
  step.token.id = target;
  const auto& alts = first->top;
  if (alts.empty()) return fail(errc::bad_response, "the /completion answer lists no top tokens");
  double lowest = 0.0;
  bool found = false;
  for (const auto& a : alts) {
    lowest = std::min(lowest, a.logprob);
    if (a.id && *a.id == target) {
      step.token.logprob = a.logprob;
      step.token.token = a.token;
      found = true;
    }
  }
  // The sampled token itself (temperature 0: the argmax) also counts when the list omits it.
  if (!found && first->id && *first->id == target) {
    step.token.logprob = first->logprob;
    step.token.token = first->token;
    found = true;
  }
  if (!found) step.token.logprob = lowest;
  step.exact = found;
  for (const auto& a : alts)
    if (static_cast<int>(step.token.top.size()) < k) step.token.top.push_back(a);
  return step;
}

/// llama.cpp's /completion usage: tokens_evaluated / tokens_predicted (or an OpenAI usage object).
[[nodiscard]] inline usage parse_native_usage(const json& body) {
  usage u = parse_usage(body);
  if (auto v = num_field(body, "tokens_evaluated")) u.prompt_tokens = static_cast<std::int64_t>(*v);
  if (auto v = num_field(body, "tokens_predicted")) u.completion_tokens = static_cast<std::int64_t>(*v);
  if (auto v = num_field(body, "tokens_cached")) u.cached_prompt_tokens = static_cast<std::int64_t>(*v);
  return u;
}

// ---------------------------------------------------------------------------------------------
// Streaming: folds chunks into a generation and reports each delta.
// ---------------------------------------------------------------------------------------------

class stream_accumulator {
 public:
  stream_accumulator(bool chat, std::size_t n) : chat_(chat) { gen_.choices.resize(n); }

  /// Applies one `data:` payload (not "[DONE]"). Returns the deltas it carried, or the error it
  /// reported (an error inside a 200 stream) or errc::bad_response when it is not a chunk.
  [[nodiscard]] result<std::vector<stream_chunk>> apply(std::string_view payload) {
    json_read_notes notes;
    auto parsed = parse_json(payload, server_json_options(), &notes);
    if (!parsed) return unexpected(bad_body("stream", "an event's data is " + parsed.error().message, payload));
    json& j = *parsed;
    if (!j.is_object()) return unexpected(bad_body("stream", "an event's data is not a JSON object", payload));
    if (auto err = error_in_payload(j)) return unexpected(std::move(*err));
    std::vector<stream_chunk> out;
    try {
      if (gen_.model.empty()) gen_.model = str_field(j, "model");
      if (const json* u = field(j, "usage"); u && u->is_object()) {
        gen_.usage = parse_usage(j);
        saw_usage_ = true;
      }
      const json* choices = field(j, "choices");
      if (!choices) return out;  // usage-only or unknown chunk
      if (!choices->is_array()) return unexpected(bad_body("stream", "`choices` is not an array", payload));
      for (const auto& c : *choices) {
        stream_chunk ch;
        const json* idx = field(c, "index");
        ch.index = idx && idx->is_number_unsigned() ? idx->get<std::size_t>() : 0;
        if (chat_) {
          if (const json* d = field(c, "delta")) ch.text = str_field(*d, "content");
        } else {
          ch.text = str_field(c, "text");
        }
        ch.finish_reason = str_field(c, "finish_reason");
        if (const json* lp = field(c, "logprobs")) {
          auto toks = parse_logprobs(*lp);
          if (!toks) return unexpected(toks.error());
          ch.tokens = std::move(*toks);
        }
        if (ch.index >= gen_.choices.size()) gen_.choices.resize(ch.index + 1);
        completion& comp = gen_.choices[ch.index];
        comp.text += ch.text;
        for (const auto& t : ch.tokens) {
          if (t.id) comp.token_ids.push_back(*t.id);
          comp.tokens.push_back(t);
        }
        if (!ch.finish_reason.empty()) {
          comp.finish_reason = ch.finish_reason;
          ++finished_;
        }
        out.push_back(std::move(ch));
      }
    } catch (const json::exception& e) {
      return unexpected(bad_body("stream", e.what(), payload));
    }
    return out;
  }

  [[nodiscard]] bool all_finished() const noexcept { return finished_ >= gen_.choices.size(); }
  [[nodiscard]] bool saw_usage() const noexcept { return saw_usage_; }
  [[nodiscard]] generation take() {
    gen_.usage.requests = 1;
    for (auto& c : gen_.choices)
      if (c.token_ids.size() != c.tokens.size()) c.token_ids.clear();
    return std::move(gen_);
  }

 private:
  bool chat_;
  generation gen_;
  std::size_t finished_ = 0;
  bool saw_usage_ = false;
};

}  // namespace detail
SELFALIGN_END_NAMESPACE
