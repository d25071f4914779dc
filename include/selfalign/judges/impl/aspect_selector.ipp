// selfalign: definitions for <selfalign/judges/aspect_selector.hpp> (aspect selection parsing)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/judges/aspect_selector.hpp>

SELFALIGN_BEGIN_NAMESPACE
namespace judges {

SELFALIGN_DECL void apply_selection(judge_request& r, const aspect_selection& s, const aspect_catalogue& catalogue) {
  for (const auto& name : s.aspects) r.criteria.push_back(catalogue.resolve(name).to_criterion());
  if (!s.reasoning.empty()) {
    if (!r.guidance.empty()) r.guidance += "\n";
    r.guidance += "Why these aspects matter here: " + s.reasoning;
  }
}

}  // namespace judges
SELFALIGN_END_NAMESPACE
SELFALIGN_BEGIN_NAMESPACE
namespace judges::detail {

SELFALIGN_DECL std::string selection_key(const selection_request& r) {
  return r.query + '\x1f' + r.guidance + '\x1f' + std::to_string(r.min_aspects) + '\x1f' + std::to_string(r.max_aspects);
}

SELFALIGN_DECL std::optional<aspect_selection> parse_selection(const std::string& text, const selection_request& req,
                                                       const selector_options& opt) {
  auto parsed = selfalign::detail::parse_lenient_json(text);
  if (!parsed || !parsed->value.is_object()) return std::nullopt;
  const nlohmann::json& j = parsed->value;
  const nlohmann::json* sel = j.contains("aspects_selection") && j["aspects_selection"].is_object() ? &j["aspects_selection"] : &j;
  if (!sel->contains("selected_aspects") || !(*sel)["selected_aspects"].is_array()) return std::nullopt;
  aspect_selection out;
  bool repaired = parsed->repaired;
  for (const auto& a : (*sel)["selected_aspects"]) {
    if (!a.is_string()) return std::nullopt;
    const std::string& name = a.get_ref<const std::string&>();
    const aspect* known = opt.catalogue.find(name);
    if (!known && opt.clamp_to_catalogue) {
      repaired = true;
      continue;
    }
    std::string canonical = known ? known->name : name;
    bool dup = false;
    for (const auto& x : out.aspects) dup = dup || normalize_aspect_name(x) == normalize_aspect_name(canonical);
    if (dup) {
      repaired = true;
      continue;
    }
    out.aspects.push_back(std::move(canonical));
  }
  if (out.aspects.empty()) return std::nullopt;
  if (req.max_aspects > 0 && static_cast<int>(out.aspects.size()) > req.max_aspects) {
    out.aspects.resize(static_cast<std::size_t>(req.max_aspects));
    repaired = true;
  }
  if (sel->contains("reasoning") && (*sel)["reasoning"].is_string()) out.reasoning = (*sel)["reasoning"].get<std::string>();
  if (j.contains("query_analysis")) out.analysis = j["query_analysis"].dump();
  out.status = repaired ? parse_status::repaired : parse_status::ok;
  return out;
}

}  // namespace judges::detail
SELFALIGN_END_NAMESPACE
