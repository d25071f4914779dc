// The JSONL call cache loaded from a file of arbitrary bytes (a torn, corrupted or hostile cache
// file): open() either loads what is readable (with warnings) or fails; it never crashes.
#include "fuzz_support.hpp"

#include <selfalign/wrappers/cached.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("selfalign-fuzz-cache-" + std::to_string(::getpid()) + ".jsonl");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  selfalign::cache_options o;
  std::size_t warnings = 0;
  o.on_warning = [&](const std::string& w) {
    fuzz::require(!w.empty(), "an empty warning");
    ++warnings;
  };
  auto store = selfalign::cache_store::open(path, o);
  if (store) {
    // Replaying any stored value must not crash either (it is validated like a server answer).
    (void)(*store)->lookup("generate|base|{}");
  }
  return 0;
}
