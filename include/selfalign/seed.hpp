// selfalign: per-call seeds derived from a run seed and the call's identity
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <concepts>
#include <cstdint>
#include <string_view>

SELFALIGN_BEGIN_NAMESPACE

/// Derives the seed of one model call from the run's seed and the call's identity.
///
/// Every algorithm names each call by what it is, never by when it runs: for example
/// `derive_seed(run_seed, "drpo/optimizer", level, beam_index)` or
/// `derive_seed(run_seed, "dlma/generate", query_id, "positive")`. The same identity always
/// gives the same seed, so results do not depend on thread scheduling or concurrency, and a
/// resumed run asks exactly the calls the interrupted one asked (the cache key includes the seed).
///
/// The mixing is FNV-1a over the parts (integers as 8 little-endian bytes, strings as their
/// bytes, each part followed by a separator byte) finished with SplitMix64. It is fixed: a seed
/// computed today is the seed computed by every later version on every platform.
template <class... Parts>
  requires((std::integral<Parts> || std::convertible_to<const Parts&, std::string_view>) && ...)
[[nodiscard]] constexpr std::uint64_t derive_seed(std::uint64_t run_seed, const Parts&... parts) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto byte = [&h](unsigned char b) {
    h ^= b;
    h *= 0x100000001b3ULL;
  };
  auto integer = [&byte](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) byte(static_cast<unsigned char>(v >> (8 * i)));
  };
  integer(run_seed);
  auto part = [&](const auto& p) {
    using P = std::remove_cvref_t<decltype(p)>;
    if constexpr (std::integral<P>) {
      byte(0x01);
      integer(static_cast<std::uint64_t>(p));
    } else {
      byte(0x02);
      for (char c : std::string_view(p)) byte(static_cast<unsigned char>(c));
    }
    byte(0xff);
  };
  (part(parts), ...);
  (void)part;  // unused when there are no parts
  // SplitMix64 finalizer: spreads the FNV state over all bits.
  std::uint64_t z = h + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Seeds that fit the servers: some (llama.cpp, TGI) take signed 32- or 63-bit seeds. Keeps the
/// low 31 bits, which every server accepts.
[[nodiscard]] constexpr std::uint64_t server_safe_seed(std::uint64_t seed) noexcept {
  return seed & 0x7fffffffULL;
}

SELFALIGN_END_NAMESPACE
