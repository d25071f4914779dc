// selfalign: definitions for <selfalign/eval/preference.hpp> (eval::preference — DLMA's preference evaluation: on human-labelled pairs the model's)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/eval/preference.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace eval {

SELFALIGN_DECL result<preference_input> preference_from_hh(std::string id, std::string_view chosen, std::string_view rejected,
                                                                 const dlma::contrastive_pair& pair) {
  auto c = io::parse_hh_transcript(chosen);
  if (!c) return unexpected(std::move(c).error());
  auto r = io::parse_hh_transcript(rejected);
  if (!r) return unexpected(std::move(r).error());
  if (c->empty() || c->back().role != "assistant" || r->empty() || r->back().role != "assistant")
    return fail(errc::invalid_argument, "an HH pair must end with an assistant reply in both \"chosen\" and \"rejected\"");
  auto q = io::hh_query(chosen, pair.user_label, pair.assistant_label);
  if (!q) return unexpected(std::move(q).error());
  auto q2 = io::hh_query(rejected, pair.user_label, pair.assistant_label);
  if (!q2) return unexpected(std::move(q2).error());
  if (*q != *q2) return fail(errc::invalid_argument, "\"chosen\" and \"rejected\" continue different conversations");
  return preference_input{std::move(id), std::move(*q), c->back().content, r->back().content};
}

}  // namespace eval
SELFALIGN_END_NAMESPACE
