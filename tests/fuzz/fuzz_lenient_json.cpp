// Lenient JSON extraction from model output (judge answers) and the lenient score reader.
#include "fuzz_support.hpp"

#include <selfalign/detail/lenient_json.hpp>

#include <cmath>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = selfalign::detail::parse_lenient_json(text);
  if (!r) return 0;
  fuzz::require(r->value.is_object() || r->value.is_array(), "lenient JSON returned a scalar");
  (void)r->value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const nlohmann::json& v = r->value;
  const nlohmann::json* score = nullptr;
  if (v.is_object() && v.contains("score")) score = &v["score"];
  else if (v.is_array() && !v.empty()) score = &v.front();
  if (score) {
    bool repaired = false;
    (void)selfalign::detail::lenient_number(*score, repaired);
  }
  return 0;
}
