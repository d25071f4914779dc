// selfalign: SHA-256 (FIPS 180-4), small and dependency-free, for cache keys, record checks and
// shard assignment — values that must be stable across runs, machines and compilers
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

SELFALIGN_BEGIN_NAMESPACE

/// Incremental SHA-256. Not for secrets (no constant-time guarantees are needed here).
class sha256 {
 public:
  using digest = std::array<std::uint8_t, 32>;

  sha256& update(std::string_view bytes);

  /// The digest of everything given so far; the object must not be updated afterwards.
  [[nodiscard]] digest finish();

  [[nodiscard]] static digest of(std::string_view bytes) { return sha256().update(bytes).finish(); }

  /// Lower-case hexadecimal of a digest (or of its first `bytes` bytes).
  [[nodiscard]] static std::string hex(const digest& d, std::size_t bytes = 32);

  /// The first eight bytes of a digest as a big-endian integer.
  [[nodiscard]] static std::uint64_t prefix64(const digest& d);

 private:
  static constexpr std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

  void compress();

  std::array<std::uint32_t, 8> h_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<std::uint8_t, 64> block_{};
  std::size_t fill_ = 0;
  std::uint64_t length_ = 0;
};

SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/cache/impl/sha256.ipp>
#endif
