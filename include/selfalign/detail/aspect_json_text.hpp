// selfalign: the {"Aspect": {"rationale": ..., "score": ...}} text the judge and DRPO's optimizer are
// shown, written directly (no nlohmann::ordered_json, a second JSON type every TU would compile)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// One aspect: its name, and its rationale and score as JSON texts (already quoted or numeric).
struct aspect_json_entry {
  std::string name;
  std::string rationale_json;
  std::string score_json;
};

/// What nlohmann::ordered_json's dump(2) prints for {name: {"rationale": r, "score": s}, ...} in the
/// entries' order: a repeated name keeps its first place and takes the later entry's values; "{}"
/// for none.
[[nodiscard]] inline std::string aspect_json_text(const std::vector<aspect_json_entry>& entries) {
  std::vector<const aspect_json_entry*> kept;
  for (const auto& e : entries) {
    auto same = std::find_if(kept.begin(), kept.end(), [&](const aspect_json_entry* k) { return k->name == e.name; });
    if (same != kept.end()) *same = &e;
    else kept.push_back(&e);
  }
  if (kept.empty()) return "{}";
  std::string out = "{";
  for (const aspect_json_entry* e : kept) {
    out += out.size() == 1 ? "\n  " : ",\n  ";
    out += nlohmann::json(e->name).dump() + ": {\n    \"rationale\": " + e->rationale_json + ",\n    \"score\": " +
           e->score_json + "\n  }";
  }
  return out + "\n}";
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
