// parse_json (the depth-capped reader of untrusted JSON) with every option set: never crashes,
// never hands back a value deeper than the cap, and what it returns can always be serialised.
// Strings decoded straight from the text (large_string_bytes) read exactly as through nlohmann,
// also when the reader may take the text over (detail::parse_json_taking).
#include "fuzz_support.hpp"

#include <selfalign/json_read.hpp>

#include <string>
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
  o.large_string_bytes = (flags & 4) ? 1 : 0;
  selfalign::json_read_notes notes;
  auto j = selfalign::parse_json(in.rest(), o, &notes);
  {
    selfalign::json_read_options other = o;
    other.large_string_bytes = (flags & 4) ? 0 : 1;
    selfalign::json_read_notes other_notes;
    std::string owned(in.rest());
    auto k = selfalign::detail::parse_json_taking(owned, other, &other_notes);
    fuzz::require(j.has_value() == k.has_value(), "the direct string decoder and nlohmann disagree on validity");
    if (j) fuzz::require(*j == *k, "the direct string decoder and nlohmann read different values");
    else fuzz::require(j.error().message == k.error().message && owned == in.rest(), "a failed read changed its error or its text");
    fuzz::require(notes.text_repaired == other_notes.text_repaired && notes.nonfinite_replaced == other_notes.nonfinite_replaced &&
                      notes.truncated == other_notes.truncated && notes.error_byte == other_notes.error_byte,
                  "the direct string decoder changed the notes");
  }
  if (j) {
    fuzz::require(depth_of(*j) <= o.max_depth, "a value deeper than max_depth was returned");
    (void)j->dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);  // repaired text is valid UTF-8
  } else {
    fuzz::require(!j.error().message.empty(), "an error without a message");
  }
  return 0;
}
