// The JSONL dataset reader (queries, and HH-style transcripts) on arbitrary bytes: every
// failure is an error value naming a line, never a crash or an exception.
#include "fuzz_support.hpp"

#include <selfalign/io/dataset.hpp>

#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  {
    std::istringstream in(text);
    auto q = selfalign::io::read_queries(in, "fuzz.jsonl");
    if (!q) fuzz::require(!q.error().message.empty(), "an error without a message");
  }
  {
    std::istringstream in(text);
    (void)selfalign::io::read_hh_queries(in, "fuzz.jsonl");
  }
  (void)selfalign::io::parse_hh_transcript(text);
  return 0;
}
