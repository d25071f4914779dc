// parse_json (the depth-capped reader of untrusted JSON) with every option set: never crashes,
// never hands back a value deeper than the cap, and what it returns can always be serialised.
#include "fuzz_support.hpp"

#include <selfalign/json_read.hpp>

#include <vector>

namespace {
std::size_t depth_of(const nlohmann::json& root) {
  std::size_t deepest = 0;
  std::vector<std::pair<const nlohmann::json*, std::size_t>> todo{{&root, 0}};
  while (!todo.empty()) {
    auto [v, d] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    deepest = std::max(deepest, d + 1);
    for (const auto& child : *v) todo.emplace_back(&child, d + 1);
  }
  return deepest;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const std::uint8_t flags = in.byte();
  selfalign::json_read_options o;
  o.max_depth = 1 + (in.byte() % 64);
  o.repair_text = (flags & 1) != 0;
  o.nonfinite_as_null = (flags & 2) != 0;
  selfalign::json_read_notes notes;
  auto j = selfalign::parse_json(in.rest(), o, &notes);
  if (j) {
    fuzz::require(depth_of(*j) <= o.max_depth, "a value deeper than max_depth was returned");
    (void)j->dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);  // repaired text is valid UTF-8
  } else {
    fuzz::require(!j.error().message.empty(), "an error without a message");
  }
  return 0;
}
