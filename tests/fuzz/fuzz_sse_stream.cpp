// The SSE parser fed in arbitrary pieces, each event handed to the stream accumulator, as
// openai_backend::generate_stream does: no crash, no write outside the requested choices.
#include "fuzz_support.hpp"

#include <selfalign/backends/detail/wire.hpp>
#include <selfalign/backends/sse.hpp>
#include <selfalign/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const std::uint8_t control = in.byte();
  const bool chat = (control & 1) != 0;
  const std::size_t n = 1 + ((control >> 1) & 3);
  const std::size_t piece = 1 + in.byte();
  const std::size_t max_line = (control & 0x80) ? 64 : (std::size_t{16} << 20);
  selfalign::detail::stream_accumulator acc(chat, n, (control & 0x40) ? 7 : -1);
  bool failed = false;
  selfalign::sse_parser parser(
      [&](const selfalign::sse_event& ev) {
        if (ev.data == "[DONE]") return true;
        auto chunks = acc.apply(ev.data);
        if (!chunks) {
          failed = true;
          return false;
        }
        for (const auto& c : *chunks) fuzz::require(c.index < n, "a chunk for a choice that was not requested");
        return true;
      },
      max_line);
  std::string_view rest = in.rest();
  while (!rest.empty()) {
    const std::size_t k = std::min(piece, rest.size());
    if (!parser.feed(rest.substr(0, k))) break;
    rest.remove_prefix(k);
  }
  parser.finish();
  if (!failed) {
    auto g = acc.take();
    fuzz::require(g.choices.size() == n, "the generation does not hold the requested choices");
    fuzz::require(g.usage.prompt_tokens >= 0 && g.usage.completion_tokens >= 0, "negative usage");
    (void)nlohmann::json(g).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  }
  return 0;
}
