// selfalign: JSON (de)serialization of the vocabulary types with nlohmann/json
// SPDX-License-Identifier: MIT
#pragma once

// Kept apart from types.hpp so that the core signatures never mention nlohmann::json.
// from_json is lenient about missing fields (they keep their defaults) and strict about types:
// a field of the wrong type throws nlohmann::json::exception, which callers that read untrusted
// input catch and turn into errc::bad_response / errc::invalid_argument.

#include <selfalign/capabilities.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/json_read.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <nlohmann/json.hpp>

#include <string>

SELFALIGN_BEGIN_NAMESPACE

namespace detail {
template <class T>
void get_if_present(const nlohmann::json& j, const char* key, T& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) it->get_to(out);
}
template <class T>
void get_if_present(const nlohmann::json& j, const char* key, std::optional<T>& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) out = it->get<T>();
}
}  // namespace detail

// message -------------------------------------------------------------------------------------
SELFALIGN_DECL void to_json(nlohmann::json& j, const message& m);
SELFALIGN_DECL void from_json(const nlohmann::json& j, message& m);

// prompt: {"messages": [...]} | {"text": "..."} | {"tokens": [...]} -----------------------------
SELFALIGN_DECL void to_json(nlohmann::json& j, const prompt& p);
SELFALIGN_DECL void from_json(const nlohmann::json& j, prompt& p);

// sampling ------------------------------------------------------------------------------------
SELFALIGN_DECL void to_json(nlohmann::json& j, const sampling& s);
SELFALIGN_DECL void from_json(const nlohmann::json& j, sampling& s);

// requests ------------------------------------------------------------------------------------
SELFALIGN_DECL void to_json(nlohmann::json& j, const generation_request& r);
SELFALIGN_DECL void from_json(const nlohmann::json& j, generation_request& r);
SELFALIGN_DECL void to_json(nlohmann::json& j, const scoring_request& r);
SELFALIGN_DECL void from_json(const nlohmann::json& j, scoring_request& r);
SELFALIGN_DECL void to_json(nlohmann::json& j, const embedding_request& r);
SELFALIGN_DECL void from_json(const nlohmann::json& j, embedding_request& r);
SELFALIGN_DECL void to_json(nlohmann::json& j, const criterion& c);
SELFALIGN_DECL void from_json(const nlohmann::json& j, criterion& c);
SELFALIGN_DECL void to_json(nlohmann::json& j, const judge_request& r);
SELFALIGN_DECL void from_json(const nlohmann::json& j, judge_request& r);

// answers -------------------------------------------------------------------------------------
SELFALIGN_DECL void to_json(nlohmann::json& j, const top_logprob& t);
SELFALIGN_DECL void from_json(const nlohmann::json& j, top_logprob& t);
SELFALIGN_DECL void to_json(nlohmann::json& j, const token_logprob& t);
SELFALIGN_DECL void from_json(const nlohmann::json& j, token_logprob& t);
SELFALIGN_DECL void to_json(nlohmann::json& j, const usage& u);
SELFALIGN_DECL void from_json(const nlohmann::json& j, usage& u);
SELFALIGN_DECL void to_json(nlohmann::json& j, const completion& c);
SELFALIGN_DECL void from_json(const nlohmann::json& j, completion& c);
SELFALIGN_DECL void to_json(nlohmann::json& j, const generation& g);
SELFALIGN_DECL void from_json(const nlohmann::json& j, generation& g);
SELFALIGN_DECL void to_json(nlohmann::json& j, const scoring& s);
SELFALIGN_DECL void from_json(const nlohmann::json& j, scoring& s);
SELFALIGN_DECL void to_json(nlohmann::json& j, const embeddings& e);
SELFALIGN_DECL void from_json(const nlohmann::json& j, embeddings& e);
SELFALIGN_DECL void to_json(nlohmann::json& j, const criterion_score& c);
SELFALIGN_DECL void from_json(const nlohmann::json& j, criterion_score& c);
SELFALIGN_DECL void to_json(nlohmann::json& j, const parse_status& s);
SELFALIGN_DECL void from_json(const nlohmann::json& j, parse_status& s);
SELFALIGN_DECL void to_json(nlohmann::json& j, const judgement& g);
SELFALIGN_DECL void from_json(const nlohmann::json& j, judgement& g);

// errors and capabilities ---------------------------------------------------------------------
SELFALIGN_DECL void to_json(nlohmann::json& j, const error& e);
SELFALIGN_DECL void from_json(const nlohmann::json& j, error& e);
SELFALIGN_DECL void to_json(nlohmann::json& j, const capabilities& c);
SELFALIGN_DECL void from_json(const nlohmann::json& j, capabilities& c);

/// Parses untrusted JSON text into T without throwing: errc::bad_response on malformed text,
/// nesting deeper than default_json_max_depth or a field of the wrong type, with `what` naming
/// the source in the message.
template <class T>
[[nodiscard]] result<T> parse_json_as(std::string_view text, std::string_view what) {
  auto j = parse_json(text);
  if (!j) return fail(errc::bad_response, std::string(what) + ": " + j.error().message);
  try {
    return j->get<T>();
  } catch (const nlohmann::json::exception& e) {
    return fail(errc::bad_response, std::string(what) + ": " + e.what());
  }
}

SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/impl/json.ipp>
#endif
