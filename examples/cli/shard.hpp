// selfalign CLI: --shard K/N — a deterministic partition of the input by id, so that N processes
// or machines (a Slurm array, a Kubernetes Indexed Job) can split one run and `merge` the parts
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/cache/sha256.hpp>
#include <selfalign/io/dataset.hpp>
#include <selfalign/result.hpp>

#include "command_line.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cli {

/// Shard K of N (0 <= K < N).
struct shard_spec {
  std::uint64_t index = 0;
  std::uint64_t count = 1;
};

/// Parses "K/N" (0-based K, as $SLURM_ARRAY_TASK_ID with --array=0-(N-1), or $JOB_COMPLETION_INDEX).
inline selfalign::result<shard_spec> parse_shard(std::string_view text) {
  const auto slash = text.find('/');
  auto number = [](std::string_view s, std::uint64_t& out) {
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
  };
  shard_spec s;
  if (slash == std::string_view::npos || !number(text.substr(0, slash), s.index) || !number(text.substr(slash + 1), s.count) ||
      s.count == 0 || s.index >= s.count)
    return selfalign::fail(selfalign::errc::invalid_argument,
                           fmt::format("--shard expects K/N with 0 <= K < N (e.g. 0/4), got '{}'", text));
  return s;
}

/// The shard an id belongs to: SHA-256 of the id, so the same on every machine and every run.
inline std::uint64_t shard_of(std::string_view id, std::uint64_t count) {
  return selfalign::sha256::prefix64(selfalign::sha256::of(id)) % count;
}

/// Keeps the records of one shard, in input order.
inline std::vector<selfalign::io::query_record> keep_shard(std::vector<selfalign::io::query_record> all, const shard_spec& s) {
  std::vector<selfalign::io::query_record> kept;
  for (auto& q : all)
    if (shard_of(q.id, s.count) == s.index) kept.push_back(std::move(q));
  return kept;
}

/// Adds --shard to a command's parser (commands whose output is one line per input id).
inline void add_shard_option(command_line& p) {
  p.section("sharding (split one run over N processes or machines; join with 'selfalign merge')")
      .option("shard", "K/N", "process only the inputs of shard K of N (0 <= K < N), chosen by a hash of\n"
              "each input's id: stable across runs and machines. A shard's lines equal the unsharded\n"
              "run's lines for those ids");
}

}  // namespace cli
