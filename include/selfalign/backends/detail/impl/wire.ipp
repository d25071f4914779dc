// selfalign: definitions for <selfalign/backends/detail/wire.hpp> (request bodies and response parsing of the OpenAI-compatible wire format)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/detail/wire.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

SELFALIGN_DECL void merge_extra(json& body, const json& extra) {
  if (!extra.is_object()) return;
  for (auto it = extra.begin(); it != extra.end(); ++it) {
    auto dst = body.find(it.key());
    if (dst != body.end() && dst->is_object() && it->is_object()) merge_extra(*dst, *it);
    else body[it.key()] = *it;
  }
}

[[nodiscard]] SELFALIGN_DECL result<void> check_sampling(const server_profile& p, const sampling& s, bool chat) {
  const std::string_view server = to_string(p.preset);
  if (s.n < 1) return fail(errc::invalid_argument, selfalign::detail::format_text("sampling.n must be at least 1 (got {})", s.n));
  if (s.max_tokens < 0) return fail(errc::invalid_argument, "sampling.max_tokens must not be negative");
  if (s.top_k > 0 && !p.top_k)
    return fail(errc::unsupported, selfalign::detail::format_text("the '{}' server does not accept top_k sampling (asked top_k={}); use the vllm, sglang or llamacpp preset or leave top_k at 0", server, s.top_k));
  if (!s.logit_bias.empty() && !p.logit_bias)
    return fail(errc::unsupported, selfalign::detail::format_text("the '{}' server ignores logit_bias", server));
  if (p.max_stop >= 0 && static_cast<int>(s.stop.size()) > p.max_stop)
    return fail(errc::unsupported, selfalign::detail::format_text("the '{}' server accepts at most {} stop strings (got {})", server, p.max_stop, s.stop.size()));
  if (s.include_stop && !s.stop.empty() && !p.include_stop_field)
    return fail(errc::unsupported, selfalign::detail::format_text("the '{}' server cannot keep the matched stop string (include_stop); vLLM and SGLang can", server));
  if (s.logprobs >= 0) {
    const int cap = chat ? p.max_chat_top_logprobs : p.max_completion_logprobs;
    if (cap < 0)
      return fail(errc::unsupported, selfalign::detail::format_text("the '{}' server returns no per-token logprobs on /v1/completions; use a chat prompt", server));
    if (s.logprobs > cap)
      return fail(errc::unsupported, selfalign::detail::format_text("the '{}' server returns at most {} alternatives per token on {} (asked {})", server, cap,
                                                 chat ? "/v1/chat/completions" : "/v1/completions", s.logprobs));
  }
  return {};
}

SELFALIGN_DECL void put_sampling(json& body, const server_profile& p, const sampling& s, std::string_view token_field,
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

SELFALIGN_DECL void put_token_id_request(json& body, const server_profile& p, const sampling& s, bool chat) {
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

[[nodiscard]] SELFALIGN_DECL bool asked_more_alternatives(const server_profile& p, const sampling& s) {
  return p.preset == server_preset::llamacpp && s.logprobs == 0;
}

SELFALIGN_DECL void keep_alternatives(generation& g, int k) {
  if (k < 0) return;
  for (auto& c : g.choices)
    for (auto& t : c.tokens)
      if (std::ssize(t.top) > k) t.top.resize(static_cast<std::size_t>(k));
}

[[nodiscard]] SELFALIGN_DECL json chat_body(const server_profile& p, std::string_view token_field, const std::string& model,
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

[[nodiscard]] SELFALIGN_DECL json completion_body(const server_profile& p, const std::string& model, const prompt& pr,
                                          const sampling& s, std::optional<std::uint64_t> seed, int n, bool stream) {
  json body = json::object();
  body["model"] = model;
  if (pr.is_tokens()) body["prompt"] = pr.token_ids();
  else body["prompt"] = pr.raw_text();
  put_sampling(body, p, s, "max_tokens", seed, n);
  // llama.cpp's /v1/completions lists no logprobs at all for `logprobs: 0` (0.7.0): ask for one
  // alternative there; the answer is cut back to the k asked (keep_alternatives).
  if (s.logprobs >= 0) body["logprobs"] = (p.preset == server_preset::llamacpp && s.logprobs == 0) ? 1 : s.logprobs;
  put_token_id_request(body, p, s, false);
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

[[nodiscard]] SELFALIGN_DECL json prompt_list(std::span<const generation_request> reqs) {
  json list = json::array();
  for (const auto& r : reqs) {
    if (r.prompt.is_tokens()) list.push_back(r.prompt.token_ids());
    else list.push_back(r.prompt.raw_text());
  }
  return list;
}

[[nodiscard]] SELFALIGN_DECL const json* field(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return (it == j.end() || it->is_null()) ? nullptr : &*it;
}

[[nodiscard]] SELFALIGN_DECL std::string str_field(const json& j, const char* key) {
  const json* v = field(j, key);
  return (v && v->is_string()) ? v->get<std::string>() : std::string{};
}

[[nodiscard]] SELFALIGN_DECL std::optional<double> num_field(const json& j, const char* key) {
  const json* v = field(j, key);
  if (v && v->is_number()) return v->get<double>();
  return std::nullopt;
}

[[nodiscard]] SELFALIGN_DECL std::optional<token_id> as_token_id(const json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u <= 0x7fffffffu) return static_cast<token_id>(u);
  } else if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    if (i >= 0 && i <= 0x7fffffff) return static_cast<token_id>(i);
  }
  return std::nullopt;
}

[[nodiscard]] SELFALIGN_DECL std::optional<token_id> id_field(const json& j, const char* key) {
  const json* v = field(j, key);
  return v ? as_token_id(*v) : std::nullopt;
}

[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> count_value(const json& v, std::int64_t max) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(max)) return static_cast<std::int64_t>(u);
  } else if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    if (i >= 0 && i <= max) return i;
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d >= 0 && d <= static_cast<double>(max) && d == std::floor(d)) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

[[nodiscard]] SELFALIGN_DECL std::int64_t estimate_tokens(std::string_view text) noexcept {
  return static_cast<std::int64_t>((text.size() + 3) / 4);
}

[[nodiscard]] SELFALIGN_DECL std::optional<token_id> id_from_token_text(std::string_view t) {
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

[[nodiscard]] SELFALIGN_DECL bool read_token_fields(const json& e, std::string& token, std::optional<token_id>& id, double& logprob) {
  token = str_field(e, "token");
  if (token.empty()) token = str_field(e, "tok_str");
  id = id_field(e, "id");
  if (!id) id = id_from_token_text(token);
  if (auto lp = num_field(e, "logprob")) logprob = *lp;
  else if (auto pr = num_field(e, "prob")) logprob = *pr > 0 ? std::log(*pr) : -INFINITY;
  else if (e.contains("logprob") || e.contains("prob")) logprob = std::nan("");  // null, or NaN/Infinity on the wire: missing
  else return false;
  return true;
}

[[nodiscard]] SELFALIGN_DECL result<token_logprob> parse_chat_logprob_entry(const json& e) {
  if (!e.is_object()) return fail(errc::bad_response, "a logprobs entry is not an object");
  token_logprob t;
  if (!read_token_fields(e, t.token, t.id, t.logprob))
    return fail(errc::bad_response, selfalign::detail::format_text("the logprobs entry for token '{}' has no logprob", t.token));
  const json* tops = field(e, "top_logprobs");
  if (!tops) tops = field(e, "probs");
  if (!tops) tops = field(e, "top_probs");
  if (tops && tops->is_array()) {
    for (const auto& a : *tops) {
      top_logprob alt;
      // An alternative without a usable logprob tells nothing: it is left out.
      if (a.is_object() && read_token_fields(a, alt.token, alt.id, alt.logprob) && !std::isnan(alt.logprob))
        t.top.push_back(std::move(alt));
    }
  }
  return t;
}

[[nodiscard]] SELFALIGN_DECL std::vector<top_logprob> parse_top_map(const json& m) {
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

[[nodiscard]] SELFALIGN_DECL result<std::vector<token_logprob>> parse_logprobs(const json& lp) {
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

[[nodiscard]] SELFALIGN_DECL usage parse_usage(const json& body, std::int64_t prompt_estimate, std::int64_t completion_estimate) {
  usage u;
  u.requests = 1;
  const json* j = field(body, "usage");
  if (j && !j->is_object()) j = nullptr;
  auto read = [&](const json* parent, const char* key, std::int64_t estimate, std::int64_t& out) {
    const json* v = parent ? field(*parent, key) : nullptr;
    const bool present = parent && parent->is_object() && parent->contains(key);
    if (v)
      if (auto c = count_value(*v)) {
        out = *c;
        return;
      }
    if (present || estimate >= 0) {
      out = std::max<std::int64_t>(0, estimate);
      u.estimated = true;
    }
  };
  read(j, "prompt_tokens", prompt_estimate, u.prompt_tokens);
  read(j, "completion_tokens", completion_estimate, u.completion_tokens);
  if (j)
    if (const json* d = field(*j, "prompt_tokens_details")) read(d, "cached_tokens", -1, u.cached_prompt_tokens);
  return u;
}

[[nodiscard]] SELFALIGN_DECL result<std::string> message_text(const json& msg, const char* where) {
  const json* content = field(msg, "content");
  if (!content) {
    if (const json* refusal = field(msg, "refusal"); refusal && refusal->is_string())
      return fail(errc::bad_response, selfalign::detail::format_text("{}: the model refused: {}", where, excerpt(refusal->get_ref<const std::string&>(), 300)));
    if (const json* calls = field(msg, "tool_calls"); calls && !(calls->is_array() && calls->empty()))
      return fail(errc::bad_response, selfalign::detail::format_text("{}: the answer is a tool call, not text", where));
    return std::string{};
  }
  if (content->is_string()) return content->get<std::string>();
  if (!content->is_array())
    return fail(errc::bad_response, selfalign::detail::format_text("{}: `content` is {}, not a string or an array of parts", where, content->type_name()));
  std::string text;
  bool any_text = false;
  std::string other;
  for (const auto& part : *content) {
    if (!part.is_object()) return fail(errc::bad_response, selfalign::detail::format_text("{}: a `content` part is {}, not an object", where, part.type_name()));
    const std::string type = str_field(part, "type");
    if (type == "text") {
      const json* t = field(part, "text");
      if (!t || !t->is_string()) return fail(errc::bad_response, selfalign::detail::format_text("{}: a text part of `content` has no `text` string", where));
      text += t->get_ref<const std::string&>();
      any_text = true;
    } else if (other.empty()) {
      other = type.empty() ? std::string("untyped") : type;
    }
  }
  if (!any_text && !other.empty())
    return fail(errc::bad_response, selfalign::detail::format_text("{}: `content` has no text part (found a '{}' part)", where, other));
  return text;
}

[[nodiscard]] SELFALIGN_DECL bool has_replacement_char(std::string_view t) noexcept {
  return t.find("\xEF\xBF\xBD") != std::string_view::npos;
}

[[nodiscard]] SELFALIGN_DECL result<generation> parse_generation_from(const json& body, bool chat, const answer_context& ctx,
                                                              bool move_texts) {
  // Only reached with move_texts from the json&& overload: the object is not const.
  auto take_string = [move_texts](const json& v) -> std::string {
    if (move_texts) return std::move(const_cast<json&>(v).get_ref<std::string&>());
    return v.get<std::string>();
  };
  if (!body.is_object()) return fail(errc::bad_response, "the answer is not a JSON object");
  const json* choices = field(body, "choices");
  if (!choices || !choices->is_array())
    return fail(errc::bad_response, "the answer has no `choices` array");
  generation g;
  g.model = str_field(body, "model");
  std::vector<std::pair<std::int64_t, completion>> indexed;
  std::int64_t position = 0;
  for (const auto& c : *choices) {
    if (!c.is_object()) return fail(errc::bad_response, "a choice is not an object");
    completion comp;
    if (chat) {
      const json* msg = field(c, "message");
      if (!msg || !msg->is_object()) return fail(errc::bad_response, "a chat choice has no `message` object");
      if (const json* content = field(*msg, "content"); content && content->is_string()) {
        comp.text = take_string(*content);
      } else {
        auto text = message_text(*msg, "a chat choice");
        if (!text) return unexpected(std::move(text).error());
        comp.text = std::move(*text);
      }
    } else {
      const json* text = field(c, "text");
      if (text && !text->is_string()) return fail(errc::bad_response, "a completion choice's `text` is not a string");
      comp.text = text ? take_string(*text) : std::string{};
    }
    comp.finish_reason = str_field(c, "finish_reason");
    comp.invalid_utf8_replaced = ctx.text_repaired && has_replacement_char(comp.text);
    if (const json* lp = field(c, "logprobs")) {
      auto toks = parse_logprobs(*lp);
      if (!toks) return unexpected(toks.error());
      comp.tokens = std::move(*toks);
    }
    if (const json* ids = field(c, "token_ids"); ids && ids->is_array() && !ids->empty()) {
      for (const auto& v : *ids) {
        auto id = as_token_id(v);
        if (!id) return fail(errc::bad_response, selfalign::detail::format_text("a choice's `token_ids` holds {}, not a token id", excerpt(v.dump(), 40)));
        comp.token_ids.push_back(*id);
      }
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
  std::int64_t completion_estimate = 0;
  for (const auto& c : g.choices) completion_estimate += estimate_tokens(c.text);
  g.usage = parse_usage(body, ctx.prompt_tokens_estimate, completion_estimate);
  return g;
}

[[nodiscard]] SELFALIGN_DECL result<generation> parse_generation(const json& body, bool chat, const answer_context& ctx) {
  return parse_generation_from(body, chat, ctx, false);
}

[[nodiscard]] SELFALIGN_DECL result<generation> parse_generation(json&& body, bool chat, const answer_context& ctx) {
  return parse_generation_from(body, chat, ctx, true);
}

[[nodiscard]] SELFALIGN_DECL result<std::vector<generation>> split_multi_answer(generation all, std::span<const std::int64_t> prompt_tokens,
                                                                        int n, bool usage_covers_all, bool prompts_are_ids) {
  const std::size_t per = static_cast<std::size_t>(std::max(1, n));
  const std::size_t prompts = prompt_tokens.size();
  if (all.choices.size() != prompts * per)
    return fail(errc::bad_response, selfalign::detail::format_text("a request carrying {} prompts with n = {} was answered with {} choices, expected {}",
                                                prompts, per, all.choices.size(), prompts * per));
  std::vector<generation> out(prompts);
  for (std::size_t i = 0; i < prompts; ++i) {
    generation& g = out[i];
    g.model = all.model;
    for (std::size_t c = 0; c < per; ++c) g.choices.push_back(std::move(all.choices[i * per + c]));
    if (i == 0) {
      g.usage = all.usage;
      continue;
    }
    g.usage.requests = 0;
    if (usage_covers_all) continue;
    g.usage.prompt_tokens = prompt_tokens[i];
    g.usage.estimated = !prompts_are_ids;
    for (const auto& c : g.choices) {
      if (!c.token_ids.empty()) g.usage.completion_tokens += static_cast<std::int64_t>(c.token_ids.size());
      else if (!c.tokens.empty()) g.usage.completion_tokens += static_cast<std::int64_t>(c.tokens.size());
      else {
        g.usage.completion_tokens += estimate_tokens(c.text);
        g.usage.estimated = true;
      }
    }
  }
  return out;
}

[[nodiscard]] SELFALIGN_DECL result<embeddings> parse_embeddings(const json& body, std::size_t expected) {
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
      const double d = x.get<double>();
      if (!std::isfinite(d) || std::fabs(d) > 3.0e38)  // beyond float: converting would be undefined
        return fail(errc::bad_response, selfalign::detail::format_text("an embedding holds {}, outside the range of float", d));
      vec.push_back(static_cast<float>(d));
    }
    const json* idx = field(d, "index");
    rows.emplace_back(idx && idx->is_number_integer() ? idx->get<std::int64_t>() : position, std::move(vec));
    ++position;
  }
  if (rows.size() != expected)
    return fail(errc::bad_response, selfalign::detail::format_text("asked for {} embeddings, the server returned {}", expected, rows.size()));
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  embeddings out;
  for (auto& r : rows) out.vectors.push_back(std::move(r.second));
  for (const auto& v : out.vectors)
    if (v.size() != out.vectors.front().size()) return fail(errc::bad_response, "the embeddings have different dimensions");
  out.usage = parse_usage(body);
  return out;
}

[[nodiscard]] SELFALIGN_DECL result<std::vector<model_info>> parse_models(const json& body) {
  const json* data = field(body, "data");
  if (!data) data = field(body, "models");
  if (!data || !data->is_array()) return fail(errc::bad_response, "the models answer has no `data` array");
  std::vector<model_info> out;
  for (const auto& m : *data) {
    model_info info;
    info.id = str_field(m, "id");
    if (info.id.empty()) info.id = str_field(m, "name");
    info.owned_by = str_field(m, "owned_by");
    if (const json* v = field(m, "max_model_len"))
      if (auto c = count_value(*v)) info.max_model_len = *c;
    if (!info.id.empty()) out.push_back(std::move(info));
  }
  return out;
}

[[nodiscard]] SELFALIGN_DECL result<std::vector<token_id>> parse_tokenize(const json& body) {
  const json* toks = body.is_array() ? &body : field(body, "tokens");
  if (!toks) toks = field(body, "input_ids");
  if (!toks || !toks->is_array()) return fail(errc::bad_response, "the tokenize answer has no `tokens` array");
  std::vector<token_id> out;
  out.reserve(toks->size());
  for (const auto& t : *toks) {
    if (auto direct = as_token_id(t)) out.push_back(*direct);
    else if (auto id = id_field(t, "id")) out.push_back(*id);
    else return fail(errc::bad_response, "a token in the tokenize answer is not an id");
  }
  return out;
}

[[nodiscard]] SELFALIGN_DECL result<std::string> parse_detokenize(const json& body) {
  for (const char* key : {"prompt", "content", "text"})
    if (const json* v = field(body, key); v && v->is_string()) return v->get<std::string>();
  return fail(errc::bad_response, "the detokenize answer has no `prompt`, `content` or `text` string");
}

[[nodiscard]] SELFALIGN_DECL result<std::vector<token_logprob>> parse_prompt_logprobs(const json& plp, std::size_t start,
                                                                             std::span<const token_id> ids, int k) {
  if (!plp.is_array()) return fail(errc::bad_response, "`prompt_logprobs` is not an array");
  if (plp.size() < start + ids.size())
    return fail(errc::bad_response, selfalign::detail::format_text("`prompt_logprobs` has {} positions, expected at least {}", plp.size(), start + ids.size()));
  std::vector<token_logprob> out;
  out.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const json& pos = plp[start + i];
    if (!pos.is_object())
      return fail(errc::bad_response, selfalign::detail::format_text("`prompt_logprobs[{}]` is null; the continuation must not start the prompt", start + i));
    const std::string key = std::to_string(ids[i]);
    const json* mine = field(pos, key.c_str());
    if (!mine) return fail(errc::bad_response, selfalign::detail::format_text("`prompt_logprobs[{}]` does not hold the prompt token {}", start + i, ids[i]));
    token_logprob t;
    t.id = ids[i];
    t.token = str_field(*mine, "decoded_token");
    auto lp = num_field(*mine, "logprob");
    if (!lp) return fail(errc::bad_response, selfalign::detail::format_text("`prompt_logprobs[{}][\"{}\"]` has no logprob", start + i, key));
    t.logprob = *lp;
    std::vector<std::pair<double, top_logprob>> alts;
    for (auto it = pos.begin(); it != pos.end(); ++it) {
      auto rank = num_field(*it, "rank");
      auto alp = num_field(*it, "logprob");
      if (!rank || !alp || *rank > k) continue;
      top_logprob a;
      a.token = str_field(*it, "decoded_token");
      a.id = id_from_token_text("token_id:" + it.key());
      if (!a.id) continue;
      a.logprob = *alp;
      alts.emplace_back(*rank, std::move(a));
    }
    std::stable_sort(alts.begin(), alts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& a : alts) t.top.push_back(std::move(a.second));
    out.push_back(std::move(t));
  }
  return out;
}

[[nodiscard]] SELFALIGN_DECL result<forced_step> parse_teacher_step(const json& body, token_id target, int k) {
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

[[nodiscard]] SELFALIGN_DECL usage parse_native_usage(const json& body) {
  usage u = parse_usage(body);
  auto read = [&](const char* key, std::int64_t& out) {
    if (!body.is_object() || !body.contains(key)) return;
    const json* v = field(body, key);
    if (auto c = v ? count_value(*v) : std::nullopt) {
      out = *c;
    } else {
      out = 0;
      u.estimated = true;  // present but unusable: flagged, never a made-up count
    }
  };
  read("tokens_evaluated", u.prompt_tokens);
  read("tokens_predicted", u.completion_tokens);
  read("tokens_cached", u.cached_prompt_tokens);
  return u;
}

SELFALIGN_DECL result<std::vector<stream_chunk>> stream_accumulator::apply(std::string_view payload) {
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
      usage_body_ = json::object();
      usage_body_["usage"] = *u;
      saw_usage_ = true;
    }
    const json* choices = field(j, "choices");
    if (!choices) return out;  // usage-only or unknown chunk
    if (!choices->is_array()) return unexpected(bad_body("stream", "`choices` is not an array", payload));
    for (const auto& c : *choices) {
      stream_chunk ch;
      if (!c.is_object()) return unexpected(bad_body("stream", "a choice is not an object", payload));
      // The index picks the slot to write: it must name one of the choices asked for.
      if (const json* idx = field(c, "index")) {
        const auto i = count_value(*idx, static_cast<std::int64_t>(gen_.choices.size()) - 1);
        if (!i)
          return unexpected(bad_body("stream", selfalign::detail::format_text("a chunk's choice index {} is out of range ({} choice{} requested)",
                                                           excerpt(idx->dump(), 40), gen_.choices.size(),
                                                           gen_.choices.size() == 1 ? "" : "s"), payload));
        ch.index = static_cast<std::size_t>(*i);
      }
      if (chat_) {
        if (const json* d = field(c, "delta")) {
          auto text = message_text(*d, "stream");
          if (!text) return unexpected(std::move(text).error());
          ch.text = std::move(*text);
        }
      } else {
        const json* t = field(c, "text");
        if (t && !t->is_string()) return unexpected(bad_body("stream", "a choice's `text` is not a string", payload));
        ch.text = t ? t->get<std::string>() : std::string{};
      }
      ch.finish_reason = str_field(c, "finish_reason");
      if (const json* lp = field(c, "logprobs")) {
        auto toks = parse_logprobs(*lp);
        if (!toks) return unexpected(toks.error());
        ch.tokens = std::move(*toks);
      }
      completion& comp = gen_.choices[ch.index];
      comp.text += ch.text;
      if (notes.text_repaired && has_replacement_char(ch.text)) comp.invalid_utf8_replaced = true;
      for (const auto& t : ch.tokens) {
        if (t.id) comp.token_ids.push_back(*t.id);
        comp.tokens.push_back(t);
      }
      if (!ch.finish_reason.empty()) {
        if (comp.finish_reason.empty()) ++finished_;  // a repeated finish does not finish another choice
        comp.finish_reason = ch.finish_reason;
      }
      out.push_back(std::move(ch));
    }
  } catch (const json::exception& e) {
    return unexpected(bad_body("stream", e.what(), payload));
  }
  return out;
}

SELFALIGN_DECL generation stream_accumulator::take() {
  std::int64_t completion_estimate = 0;
  for (auto& c : gen_.choices) {
    if (c.token_ids.size() != c.tokens.size()) c.token_ids.clear();
    completion_estimate += estimate_tokens(c.text);
  }
  gen_.usage = parse_usage(usage_body_, prompt_estimate_, completion_estimate);
  return std::move(gen_);
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
