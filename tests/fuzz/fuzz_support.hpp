// Shared by the libFuzzer harnesses: splitting one input into several, and checks that abort
// (so libFuzzer records the input) when an invariant breaks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace fuzz {

/// Aborts with a message when `ok` is false: libFuzzer then saves the input as a crash.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

/// Reads the input front to back: a few control bytes first, the rest as text.
class input {
 public:
  input(const std::uint8_t* data, std::size_t size) : s_(reinterpret_cast<const char*>(data), size) {}
  /// The next byte (0 when none is left).
  std::uint8_t byte() {
    if (s_.empty()) return 0;
    const auto b = static_cast<std::uint8_t>(s_.front());
    s_.remove_prefix(1);
    return b;
  }
  /// Everything not consumed yet.
  [[nodiscard]] std::string_view rest() const { return s_; }

 private:
  std::string_view s_;
};

}  // namespace fuzz
