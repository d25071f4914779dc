// selfalign CLI: `cache` — inspect and maintain a durable cache (stats, export, import, vacuum) —
// and `merge` — join the outputs of a sharded run
// SPDX-License-Identifier: MIT
#pragma once

#include "cli.hpp"
#include "shard.hpp"

#include <selfalign/cache/store.hpp>
#if defined(SELFALIGN_WITH_SQLITE) && SELFALIGN_WITH_SQLITE
#include <selfalign/cache/sqlite_store.hpp>
#endif

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

namespace cli {

inline command_line cache_parser() {
  command_line p("selfalign cache stats|export|import|vacuum FILE [SOURCE.jsonl...]",
                   "Inspects and maintains a durable call cache (the FILE given to --cache): an SQLite database or a\n"
                   "JSONL file.\n"
                   "  stats FILE           one JSON object: format, entries, file size, pending calls, and entries,\n"
                   "                       hits and misses by role and model (SQLite keeps hits of finished runs)\n"
                   "  export FILE          every record as JSONL ({check, key, value}) to --out\n"
                   "  import FILE SRC...   adds the records of JSONL caches SRC (damaged lines are skipped)\n"
                   "  vacuum FILE          compacts: SQLite drops expired pending markers, checkpoints the WAL and\n"
                   "                       rebuilds the file; JSONL is rewritten with one line per key, torn and\n"
                   "                       damaged lines dropped");
  p.section("cache options").option("out", "FILE", "export: output file ('-' = standard output, the default)").config_option();
  p.positionals(2, 1000, "ACTION FILE [SOURCE...]", "arguments")
      .example("selfalign cache stats run.cache")
      .example("selfalign cache import run.cache old-run.jsonl")
      .example("selfalign cache export run.cache --out run.jsonl");
  return p;
}

namespace detail_cache {

inline result<std::shared_ptr<cache_store>> open_existing(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return fail(errc::invalid_argument, fmt::format("no cache file {}", path));
  cache_options o;
  o.on_warning = [](const std::string& w) { std::fprintf(stderr, "selfalign: warning: %s\n", w.c_str()); };
  return cache_store::open(path, o);
}

inline std::uintmax_t size_with_wal(const std::string& path) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const auto s = std::filesystem::file_size(path + suffix, ec);
    if (!ec) total += s;
  }
  return total;
}

/// JSONL vacuum: one line per key (the last one written wins), unreadable lines dropped; atomic.
inline result<std::size_t> rewrite_jsonl(cache_store& store, const std::string& path) {
  auto out = io::atomic_output::open(path);
  if (!out) return unexpected(out.error());
  std::size_t n = 0;
  std::optional<error> failed;
  auto walked = store.for_each([&](const std::string& k, const std::string& v) {
    std::string line = selfalign::detail::jsonl_cache_line(k, v);
    line.pop_back();  // write_line adds the newline
    if (auto w = out->write_line(line); !w) {
      failed = w.error();
      return false;
    }
    ++n;
    return true;
  });
  if (!walked) return unexpected(walked.error());
  if (failed) return unexpected(*failed);
  if (auto c = out->commit(); !c) return unexpected(c.error());
  return n;
}

}  // namespace detail_cache

inline int run_cache(context& c) {
  const auto& pos = c.args.positionals();
  const std::string action = pos[0], path = pos[1];
  const std::vector<std::string> sources(pos.begin() + 2, pos.end());
  if (action != "stats" && action != "export" && action != "import" && action != "vacuum")
    return report_error(&c, c.command, error(errc::invalid_argument, fmt::format("unknown action '{}' (stats, export, import or vacuum)", action)));
  if (action != "import" && !sources.empty())
    return report_error(&c, c.command, error(errc::invalid_argument, fmt::format("'{}' takes one FILE", action)));
  if (action == "import" && sources.empty())
    return report_error(&c, c.command, error(errc::invalid_argument, "import needs at least one SOURCE.jsonl"));

  result<std::shared_ptr<cache_store>> store = action == "import" ? [&] {
    cache_options o;
    o.on_warning = [](const std::string& w) { std::fprintf(stderr, "selfalign: warning: %s\n", w.c_str()); };
    return cache_store::open(path, o);
  }()
                                                                   : detail_cache::open_existing(path);
  if (!store) return report_error(&c, c.command, store.error());
  cache_store& s = **store;

  if (action == "stats") {
    nlohmann::json j = {{"file", path}, {"format", s.kind()}, {"entries", s.stats().entries}, {"bytes", detail_cache::size_with_wal(path)}};
    nlohmann::json roles = nlohmann::json::array();
#if defined(SELFALIGN_WITH_SQLITE) && SELFALIGN_WITH_SQLITE
    if (auto* sq = dynamic_cast<sqlite_cache_store*>(&s)) {
      j["pending"] = sq->pending_count();
      auto summary = sq->summary();
      if (!summary) return report_error(&c, c.command, summary.error());
      for (const auto& [rm, r] : *summary)
        roles.push_back({{"role", rm.first}, {"model", rm.second}, {"entries", r.entries}, {"hits", r.hits}, {"misses", r.misses}});
    }
#endif
    if (s.kind() == "jsonl") {
      // JSONL records hold the canonical request; count them by role and model from the keys.
      std::map<std::pair<std::string, std::string>, std::size_t> by;
      (void)s.for_each([&](const std::string& k, const std::string&) {
        auto key = nlohmann::json::parse(k, nullptr, false);
        std::string role, model;
        if (key.is_object()) {
          if (auto it = key.find("scope"); it != key.end() && it->is_string()) role = it->get<std::string>();
          if (auto it = key.find("model"); it != key.end() && it->is_string()) model = it->get<std::string>();
        }
        ++by[{role, model}];
        return true;
      });
      for (const auto& [rm, n] : by) roles.push_back({{"role", rm.first}, {"model", rm.second}, {"entries", n}});
      j["skipped_lines"] = s.stats().skipped_lines;
    }
    j["by_role"] = roles;
    auto out = jsonl_writer::open(c);
    if (!out) return report_error(&c, c.command, out.error());
    if (auto w = out->write(j); !w) return report_error(&c, c.command, w.error());
    if (auto committed = out->commit(); !committed) return report_error(&c, c.command, committed.error());
    return exit_ok;
  }
  if (action == "export") {
    auto out = io::atomic_output::open(c.args.get_or("out", "-"));
    if (!out) return report_error(&c, c.command, out.error());
    std::optional<error> failed;
    auto walked = s.for_each([&](const std::string& k, const std::string& v) {
      std::string line = selfalign::detail::jsonl_cache_line(k, v);
      line.pop_back();
      if (auto w = out->write_line(line); !w) {
        failed = w.error();
        return false;
      }
      return true;
    });
    if (!walked) return report_error(&c, c.command, walked.error());
    if (failed) return report_error(&c, c.command, *failed);
    if (auto committed = out->commit(); !committed) return report_error(&c, c.command, committed.error());
    return exit_ok;
  }
  if (action == "import") {
    std::size_t added = 0, skipped = 0;
    for (const auto& src : sources) {
      std::ifstream in(src, std::ios::binary);
      if (!in) return report_error(&c, c.command, error(errc::invalid_argument, fmt::format("cannot read {}", src)));
      std::ostringstream ss;
      ss << in.rdbuf();
      std::optional<error> failed;
      auto scan = selfalign::detail::read_jsonl_cache(
          ss.str(), src,
          [&](std::string k, std::string v) {
            if (failed) return;
            // The record's role and model (for the statistics) come from its canonical key.
            cache_record_info info;
            auto key = nlohmann::json::parse(k, nullptr, false);
            if (key.is_object()) {
              info.op = key.value("op", std::string{});
              info.role = key.value("scope", std::string{});
              info.model = key.value("model", std::string{});
            }
            if (auto r = s.insert_text(k, v, info); !r) failed = r.error();
          },
          [](const std::string& w) { std::fprintf(stderr, "selfalign: warning: %s\n", w.c_str()); });
      if (failed) return report_error(&c, c.command, *failed);
      added += scan.loaded;
      skipped += scan.skipped;
    }
    std::fprintf(stderr, "selfalign cache: imported %zu records (%zu lines skipped); %zu entries now\n", added, skipped, s.stats().entries);
    return exit_ok;
  }
  // vacuum
#if defined(SELFALIGN_WITH_SQLITE) && SELFALIGN_WITH_SQLITE
  if (auto* sq = dynamic_cast<sqlite_cache_store*>(&s)) {
    const auto before = detail_cache::size_with_wal(path);
    if (auto v = sq->vacuum(); !v) return report_error(&c, c.command, v.error());
    std::fprintf(stderr, "selfalign cache: %s: %ju -> %ju bytes\n", path.c_str(), before, detail_cache::size_with_wal(path));
    return exit_ok;
  }
#endif
  const auto before = detail_cache::size_with_wal(path);
  auto n = detail_cache::rewrite_jsonl(s, path);
  if (!n) return report_error(&c, c.command, n.error());
  std::fprintf(stderr, "selfalign cache: %s: %zu records, %ju -> %ju bytes\n", path.c_str(), *n, before, detail_cache::size_with_wal(path));
  return exit_ok;
}

// -- merge ----------------------------------------------------------------------------------------

inline command_line merge_parser() {
  command_line p("selfalign merge --out OUT [--input INPUT.jsonl] PART...",
                   "Joins the outputs of a run split with --shard K/N back into one file, in input order, and checks\n"
                   "that every input id is there exactly once. Mergeable: generate, judge, rain and dlma outputs\n"
                   "(one line per input id) and, with --kind dlma-stats, dlma --stats files (counts, mean, stddev,\n"
                   "min, max are combined exactly; quantiles cannot be and are recomputed from the merged lines'\n"
                   "margins when --lines gives them). drpo cannot be sharded: it optimizes one prompt over the\n"
                   "whole training set.");
  p.section("merge options")
      .option("input", "FILE", "the unsharded input: gives the order and lets merge report missing ids\n"
              "(without it, lines are ordered by id, numerically when every id is a number)")
      .flag("allow-missing", "with --input: input ids without a line are listed on standard error\n"
            "instead of refused (dlma --on-negative drop, failed queries); duplicated and\n"
            "unknown ids are still refused")
      .option("kind", "KIND", "lines (default) or dlma-stats")
      .option("lines", "FILE", "dlma-stats: the merged dlma lines, to recompute the margin quantiles")
      .option("out", "FILE", "output file ('-' = standard output, the default)")
      .config_option();
  p.positionals(1, 100000, "PART... (the shards' outputs)", "part")
      .example("selfalign merge --input prompts.jsonl --out answers.jsonl answers.*.jsonl")
      .example("selfalign merge --kind dlma-stats --lines pairs.jsonl --out stats.json stats.*.json");
  return p;
}

namespace detail_merge {

inline bool all_digits(const std::string& s) {
  return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

/// The id of an output line as read_queries spells it (a string, or an integer as text).
inline std::optional<std::string> id_of(const nlohmann::json& j) {
  auto it = j.find("id");
  if (it == j.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return it->dump();
  return std::nullopt;
}

inline result<std::vector<std::string>> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errc::invalid_argument, fmt::format("cannot read {}", path));
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(std::move(l));
  return lines;
}

inline int merge_lines(context& c) {
  struct line {
    std::string id, text, part;
    std::size_t lineno = 0;
  };
  std::map<std::string, std::vector<line>> by_id;
  std::vector<std::string> ids_seen;
  for (const auto& part : c.args.positionals()) {
    auto lines = read_lines(part);
    if (!lines) return report_error(&c, c.command, lines.error());
    for (std::size_t i = 0; i < lines->size(); ++i) {
      auto j = selfalign::detail::parse_record_json((*lines)[i]);
      auto id = j.is_object() ? id_of(j) : std::nullopt;
      if (!id)
        return report_error(&c, c.command, error(errc::invalid_argument, fmt::format("{}:{}: not a JSON line with an \"id\"", part, i + 1)));
      if (by_id.find(*id) == by_id.end()) ids_seen.push_back(*id);
      by_id[*id].push_back({*id, std::move((*lines)[i]), part, i + 1});
    }
  }
  std::vector<std::string> order;
  std::vector<std::string> problems;
  if (auto input = c.args.get("input")) {
    auto queries = io::read_queries(std::filesystem::path(*input));
    if (!queries) return report_error(&c, c.command, queries.error());
    std::map<std::string, std::size_t> expected;
    for (const auto& q : *queries) {
      if (expected[q.id]++ == 0) order.push_back(q.id);
    }
    const bool allow_missing = c.args.has("allow-missing");
    std::vector<std::string> missing;
    for (const auto& [id, n] : expected) {
      auto it = by_id.find(id);
      const std::size_t got = it == by_id.end() ? 0 : it->second.size();
      if (got < n) (allow_missing ? missing : problems).push_back(fmt::format("id '{}' is missing ({} of {} lines)", id, got, n));
      if (got > n) problems.push_back(fmt::format("id '{}' appears {} times (in {} and {})", id, got, it->second[0].part, it->second[1].part));
    }
    for (const auto& [id, ls] : by_id)
      if (expected.find(id) == expected.end()) problems.push_back(fmt::format("id '{}' ({}:{}) is not in {}", id, ls[0].part, ls[0].lineno, *input));
    if (!missing.empty() && problems.empty()) {
      const std::size_t shown = std::min<std::size_t>(missing.size(), 10);
      std::string list;
      for (std::size_t i = 0; i < shown; ++i) list += (i ? "; " : "") + missing[i];
      std::fprintf(stderr, "selfalign merge: %zu input id(s) without a line (--allow-missing): %s%s\n", missing.size(), list.c_str(),
                   missing.size() > shown ? "; ..." : "");
    }
  } else {
    if (c.args.has("allow-missing"))
      return report_error(&c, c.command, error(errc::invalid_argument, "--allow-missing needs --input (without it nothing can be missing)"));
    order = ids_seen;
    const bool numeric = std::all_of(order.begin(), order.end(), all_digits);
    std::stable_sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
      return numeric ? std::stoll(a) < std::stoll(b) : a < b;
    });
    for (const auto& [id, ls] : by_id)
      if (ls.size() > 1) problems.push_back(fmt::format("id '{}' appears {} times (in {} and {})", id, ls.size(), ls[0].part, ls[1].part));
    std::fprintf(stderr, "selfalign merge: without --input, missing ids cannot be detected; lines are ordered by id\n");
  }
  if (!problems.empty()) {
    const std::size_t shown = std::min<std::size_t>(problems.size(), 10);
    std::string msg = fmt::format("{} problem(s): ", problems.size());
    for (std::size_t i = 0; i < shown; ++i) msg += (i ? "; " : "") + problems[i];
    return report_error(&c, c.command, error(errc::invalid_argument, msg));
  }
  auto out = io::atomic_output::open(c.args.get_or("out", "-"));
  if (!out) return report_error(&c, c.command, out.error());
  for (const auto& id : order)
    for (const auto& l : by_id[id])
      if (auto w = out->write_line(l.text); !w) return report_error(&c, c.command, w.error());
  if (auto committed = out->commit(); !committed) return report_error(&c, c.command, committed.error());
  return exit_ok;
}

/// Combines dlma --stats files: sums of counts, exact pooled mean/stddev/min/max, quantiles from
/// the merged lines' margins when given (--lines), else null.
inline int merge_dlma_stats(context& c) {
  nlohmann::json merged = {{"margins", nlohmann::json::object()}};
  std::size_t count = 0;
  double sum = 0.0, sumsq = 0.0, lo = 0.0, hi = 0.0;
  bool any = false;
  std::vector<std::string> stop_reasons;
  nlohmann::json usage_sum = nlohmann::json::object();
  for (const auto& part : c.args.positionals()) {
    std::ifstream in(part);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("margins"))
      return report_error(&c, c.command, error(errc::invalid_argument, fmt::format("{}: not a dlma --stats file", part)));
    for (const char* k : {"pairs", "dropped", "failures", "unfinished", "swapped", "approximate"})
      if (j.contains(k) && j[k].is_number_integer()) merged[k] = merged.value(k, std::int64_t{0}) + j[k].get<std::int64_t>();
    const auto& m = j["margins"];
    const auto n = m.value("count", std::size_t{0});
    for (const char* k : {"negative", "clipped_low", "clipped_high"})
      merged["margins"][k] = merged["margins"].value(k, std::size_t{0}) + m.value(k, std::size_t{0});
    if (n > 0 && m["mean"].is_number() && m["stddev"].is_number()) {
      const double mean = m["mean"].get<double>(), sd = m["stddev"].get<double>();
      sum += mean * static_cast<double>(n);
      sumsq += (sd * sd + mean * mean) * static_cast<double>(n);
      lo = any ? std::min(lo, m["min"].get<double>()) : m["min"].get<double>();
      hi = any ? std::max(hi, m["max"].get<double>()) : m["max"].get<double>();
      any = true;
    }
    count += n;
    if (j.contains("stop_reason") && j["stop_reason"].is_string() && !j["stop_reason"].get<std::string>().empty())
      stop_reasons.push_back(part + ": " + j["stop_reason"].get<std::string>());
    if (j.contains("usage") && j["usage"].is_object())
      for (const auto& [k, v] : j["usage"].items()) {
        if (v.is_number_integer()) usage_sum[k] = usage_sum.value(k, std::int64_t{0}) + v.get<std::int64_t>();
        else if (v.is_number_float()) usage_sum[k] = usage_sum.value(k, 0.0) + v.get<double>();
      }
  }
  auto& mm = merged["margins"];
  mm["count"] = count;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double mean = count ? sum / static_cast<double>(count) : nan;
  mm["mean"] = any ? nlohmann::json(mean) : nlohmann::json(nullptr);
  mm["stddev"] = any ? nlohmann::json(std::sqrt(std::max(0.0, sumsq / static_cast<double>(count) - mean * mean))) : nlohmann::json(nullptr);
  mm["min"] = any ? nlohmann::json(lo) : nlohmann::json(nullptr);
  mm["max"] = any ? nlohmann::json(hi) : nlohmann::json(nullptr);
  mm["negative_fraction"] = count ? nlohmann::json(mm["negative"].get<double>() / static_cast<double>(count)) : nlohmann::json(nullptr);
  for (const char* q : {"p05", "p25", "median", "p75", "p95"}) mm[q] = nullptr;
  if (auto lines_path = c.args.get("lines")) {
    // Quantiles over the pairs the lines hold (dropped pairs are not in the lines: then they stay null).
    auto lines = read_lines(*lines_path);
    if (!lines) return report_error(&c, c.command, lines.error());
    std::vector<double> r;
    for (const auto& l : *lines) {
      auto j = nlohmann::json::parse(l, nullptr, false);
      const nlohmann::json* raw = nullptr;
      if (j.is_object() && j.contains("provenance") && j["provenance"].is_object() && j["provenance"].contains("margin_raw"))
        raw = &j["provenance"]["margin_raw"];
      if (raw && raw->is_number()) r.push_back(raw->get<double>());
    }
    if (r.size() == count && count > 0) {
      std::sort(r.begin(), r.end());
      mm["p05"] = dlma::quantile_sorted(r, 0.05);
      mm["p25"] = dlma::quantile_sorted(r, 0.25);
      mm["median"] = dlma::quantile_sorted(r, 0.5);
      mm["p75"] = dlma::quantile_sorted(r, 0.75);
      mm["p95"] = dlma::quantile_sorted(r, 0.95);
    }
  }
  merged["stop_reason"] = stop_reasons.empty() ? std::string{} : selfalign::detail::join(stop_reasons, "; ");
  merged["usage"] = usage_sum;
  merged["merged_from"] = c.args.positionals().size();
  auto out = io::atomic_output::open(c.args.get_or("out", "-"));
  if (!out) return report_error(&c, c.command, out.error());
  if (auto w = out->write_line(merged.dump(2)); !w) return report_error(&c, c.command, w.error());
  if (auto committed = out->commit(); !committed) return report_error(&c, c.command, committed.error());
  return exit_ok;
}

}  // namespace detail_merge

inline int run_merge(context& c) {
  auto kind = c.args.get_choice("kind", "lines", {"lines", "dlma-stats"});
  if (!kind) return report_error(&c, c.command, kind.error());
  return *kind == "lines" ? detail_merge::merge_lines(c) : detail_merge::merge_dlma_stats(c);
}

}  // namespace cli
