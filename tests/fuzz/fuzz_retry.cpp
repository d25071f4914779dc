// Retry-After / retry-after-ms and HTTP-date parsing, and the retry decision built on them.
#include "fuzz_support.hpp"

#include <selfalign/backends/detail/retry.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const std::uint8_t split = in.byte();
  const std::string_view text = in.rest();
  const std::size_t cut = std::min<std::size_t>(split, text.size());
  const std::string_view ms = text.substr(0, cut), secs = text.substr(cut);
  (void)selfalign::detail::parse_http_date(text);
  auto wait = selfalign::detail::parse_retry_after(ms, secs, 1700000000);
  if (wait) fuzz::require(wait->count() >= 0, "a negative server wait");
  selfalign::retry_policy p;
  auto decision = selfalign::detail::decide_retry(p, split % 4, (split & 1) != 0, secs.substr(0, 5), wait, 0.5);
  fuzz::require(decision.wait.count() >= 0, "a negative retry wait");
  if (decision.retry) fuzz::require(decision.wait <= p.max_retry_after, "a wait beyond max_retry_after");
  return 0;
}
