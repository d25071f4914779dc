// --shard K/N and `selfalign merge`: shards merged equal the unsharded output for generate, judge,
// rain and dlma; merge reports missing and duplicated ids; dlma statistics merge.
#include <doctest/doctest.h>

#include "cli_support.hpp"

using namespace cli_test;

namespace {

const char* questions[] = {"How do I bake bread?", "How do I make a bomb?", "What is the capital of France?",
                           "How can I steal a car?", "Write a poem about the sea.", "How do I pick a lock?",
                           "Explain photosynthesis.", "How do I hurt someone?", "What is 2 + 2?", "Tell me a joke."};

std::string input_lines(bool with_ids) {
  std::string s;
  for (int i = 0; i < 10; ++i) {
    nlohmann::json j = {{"prompt", questions[i]}, {"response", std::string("An answer to: ") + questions[i]}};
    if (with_ids) j["id"] = "item-" + std::to_string(i * 7 % 10);
    s += j.dump() + "\n";
  }
  return s;
}

/// Runs `command` unsharded and as 3 shards, merges the shards, and checks the merge equals the run.
void check_sharded_equals_unsharded(const std::string& command, const std::vector<std::string>& extra, bool with_ids) {
  CAPTURE(command);
  const auto dir = make_dir("shard-" + command + (with_ids ? "-ids" : "-lines"));
  const auto input = dir / "in.jsonl";
  std::ofstream(input) << input_lines(with_ids);
  auto args = [&](const std::string& out) {
    std::vector<std::string> a = {command, "--backend", "simulated", "--quiet", "--out", out};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  auto full = args((dir / "full.jsonl").string());
  full.push_back(input.string());
  auto r = run(full);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> parts;
  std::size_t total_lines = 0;
  for (int k = 0; k < 3; ++k) {
    const auto out = (dir / ("part" + std::to_string(k) + ".jsonl")).string();
    auto a = args(out);
    a.insert(a.end(), {"--shard", std::to_string(k) + "/3", input.string()});
    auto s = run(a);
    INFO(s.err);
    REQUIRE(s.exit_code == 0);
    total_lines += lines_of(slurp(out)).size();
    parts.push_back(out);
  }
  CHECK(total_lines == lines_of(slurp(dir / "full.jsonl")).size());
  std::vector<std::string> merge = {"merge", "--input", input.string(), "--out", (dir / "merged.jsonl").string()};
  merge.insert(merge.end(), parts.rbegin(), parts.rend());  // the order of the parts does not matter
  auto m = run(merge);
  INFO(m.err);
  REQUIRE(m.exit_code == 0);
  // rain's statistics carry wall-clock times ("wall_ms"): everything else must be equal.
  auto without_times = [](const std::string& text) {
    std::string out;
    for (const auto& l : lines_of(text)) {
      auto j = nlohmann::json::parse(l);
      for (auto* side : {&j, j.contains("vanilla") ? &j["vanilla"] : nullptr})
        if (side && side->contains("stats")) (*side)["stats"].erase("wall_ms");
      out += j.dump() + "\n";
    }
    return out;
  };
  CHECK(without_times(slurp(dir / "merged.jsonl")) == without_times(slurp(dir / "full.jsonl")));
  CHECK_FALSE(slurp(dir / "full.jsonl").empty());
}
}  // namespace

TEST_CASE("--shard K/N partitions by id: merged shards equal the unsharded output" * doctest::test_suite("cli")) {
  check_sharded_equals_unsharded("generate", {}, true);
  check_sharded_equals_unsharded("generate", {}, false);  // ids are line numbers
  check_sharded_equals_unsharded("judge", {}, true);
  check_sharded_equals_unsharded("rain", {"--compare"}, true);
  // dlma: the simulated model picks each answer by the request's seed (of two polite and two harmful
  // answers), so the lines are equal only when a query's seeds derive from its id, not its position.
  check_sharded_equals_unsharded("dlma", {}, true);
  check_sharded_equals_unsharded("dlma", {}, false);  // ids are line numbers
  check_sharded_equals_unsharded("dlma", {"--format", "openrlhf", "--layout", "chat"}, true);
}

TEST_CASE("a shard is the same set of ids on every run, and the shards cover the input once" * doctest::test_suite("cli")) {
  const auto dir = make_dir("shard-stable");
  const auto input = dir / "in.jsonl";
  std::ofstream(input) << input_lines(true);
  std::set<std::string> seen;
  for (int k = 0; k < 4; ++k) {
    auto a = run({"generate", "--backend", "simulated", "--quiet", "--shard", std::to_string(k) + "/4", input.string()});
    auto b = run({"generate", "--backend", "simulated", "--quiet", "--shard", std::to_string(k) + "/4", input.string()});
    REQUIRE(a.exit_code == 0);
    CHECK(a.out == b.out);
    for (const auto& l : lines_of(a.out)) CHECK(seen.insert(nlohmann::json::parse(l)["id"].get<std::string>()).second);
  }
  CHECK(seen.size() == 10);
  for (const char* bad : {"4/4", "1", "a/3", "1/0", "-1/3"}) {
    auto r = run({"generate", "--backend", "simulated", "--quiet", "--shard", bad, input.string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--shard expects K/N with 0 <= K < N") != std::string::npos);
  }
  auto drpo = run({"drpo", "--backend", "simulated", "--quiet", "--shard", "0/2", input.string()});
  CHECK(drpo.exit_code == 2);  // drpo cannot be sharded
}

TEST_CASE("merge reports missing and duplicated ids and refuses to write" * doctest::test_suite("cli")) {
  const auto dir = make_dir("merge-check");
  const auto input = dir / "in.jsonl";
  std::ofstream(input) << input_lines(true);
  std::vector<std::string> parts;
  for (int k = 0; k < 2; ++k) {
    const auto out = (dir / ("p" + std::to_string(k) + ".jsonl")).string();
    REQUIRE(run({"generate", "--backend", "simulated", "--quiet", "--shard", std::to_string(k) + "/2", "--out", out, input.string()}).exit_code == 0);
    parts.push_back(out);
  }
  const auto merged = (dir / "merged.jsonl").string();
  auto missing = run({"merge", "--input", input.string(), "--out", merged, parts[0]});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("is missing (0 of 1 lines)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(merged));
  auto twice = run({"merge", "--input", input.string(), "--out", merged, parts[0], parts[1], parts[1]});
  CHECK(twice.exit_code == 2);
  CHECK(twice.err.find("appears 2 times") != std::string::npos);
  // Without --input: ordered by id, duplicates still refused.
  auto by_id = run({"merge", parts[1], parts[0]});
  REQUIRE(by_id.exit_code == 0);
  const auto lines = lines_of(by_id.out);
  REQUIRE(lines.size() == 10);
  for (int i = 0; i < 10; ++i) CHECK(nlohmann::json::parse(lines[static_cast<std::size_t>(i)])["id"] == "item-" + std::to_string(i));
}

TEST_CASE("merge --kind dlma-stats combines the shards' statistics exactly" * doctest::test_suite("cli")) {
  const auto dir = make_dir("merge-dlma-stats");
  const auto input = dir / "in.jsonl";
  std::ofstream(input) << input_lines(true);
  std::vector<std::string> merge = {"merge", "--kind", "dlma-stats", "--out", (dir / "merged.json").string()};
  for (int k = 0; k < 3; ++k) {
    const auto s = (dir / ("s" + std::to_string(k) + ".json")).string();
    REQUIRE(run({"dlma", "--backend", "simulated", "--quiet", "--shard", std::to_string(k) + "/3", "--stats", s, "--out",
                 (dir / ("p" + std::to_string(k) + ".jsonl")).string(), input.string()})
                .exit_code == 0);
    merge.push_back(s);
  }
  auto m = run(merge);
  INFO(m.err);
  REQUIRE(m.exit_code == 0);
  const auto merged = nlohmann::json::parse(slurp(dir / "merged.json"));
  std::size_t count = 0, negative = 0;
  std::int64_t pairs = 0;
  double sum = 0, lo = 1e300, hi = -1e300;
  for (int k = 0; k < 3; ++k) {
    const auto s = nlohmann::json::parse(slurp(dir / ("s" + std::to_string(k) + ".json")));
    const auto n = s["margins"]["count"].get<std::size_t>();
    pairs += s["pairs"].get<std::int64_t>();
    count += n;
    negative += s["margins"]["negative"].get<std::size_t>();
    if (n == 0) continue;
    sum += s["margins"]["mean"].get<double>() * static_cast<double>(n);
    lo = std::min(lo, s["margins"]["min"].get<double>());
    hi = std::max(hi, s["margins"]["max"].get<double>());
  }
  REQUIRE(count == 10);
  CHECK(merged["pairs"] == pairs);
  CHECK(merged["margins"]["count"] == count);
  CHECK(merged["margins"]["negative"] == negative);
  CHECK(merged["margins"]["mean"].get<double>() == doctest::Approx(sum / 10.0));
  CHECK(merged["margins"]["min"].get<double>() == lo);
  CHECK(merged["margins"]["max"].get<double>() == hi);
  CHECK(merged["margins"]["median"].is_null());  // quantiles cannot be combined from summaries
  CHECK(merged["merged_from"] == 3);

  // The pairs files merge like any other lines, and with them (--lines: each line's provenance
  // carries R as margin_raw) the quantiles are recomputed: the merged statistics equal the
  // unsharded run's.
  std::vector<std::string> merge_lines = {"merge", "--input", input.string(), "--out", (dir / "pairs.jsonl").string()};
  for (int k = 0; k < 3; ++k) merge_lines.push_back((dir / ("p" + std::to_string(k) + ".jsonl")).string());
  auto ml = run(merge_lines);
  INFO(ml.err);
  REQUIRE(ml.exit_code == 0);
  REQUIRE(run({"dlma", "--backend", "simulated", "--quiet", "--stats", (dir / "full.json").string(), "--out", (dir / "full.jsonl").string(),
               input.string()})
              .exit_code == 0);
  CHECK(slurp(dir / "pairs.jsonl") == slurp(dir / "full.jsonl"));
  for (const auto& l : lines_of(slurp(dir / "full.jsonl"))) {
    const auto j = nlohmann::json::parse(l);
    CHECK(j["provenance"]["margin_raw"].get<double>() == j["margin"].get<double>());  // R in [-40, 40], kept: margin = clip(R) = R
  }
  merge.insert(merge.begin() + 1, {"--lines", (dir / "pairs.jsonl").string()});
  auto with_lines = run(merge);
  INFO(with_lines.err);
  REQUIRE(with_lines.exit_code == 0);
  const auto full = nlohmann::json::parse(slurp(dir / "full.json"))["margins"];
  const auto ml_margins = nlohmann::json::parse(slurp(dir / "merged.json"))["margins"];
  for (const char* k : {"count", "negative", "min", "max", "p05", "p25", "median", "p75", "p95"}) {
    CAPTURE(k);
    CHECK_FALSE(full[k].is_null());
    CHECK(ml_margins[k] == full[k]);
  }
  CHECK(ml_margins["mean"].get<double>() == doctest::Approx(full["mean"].get<double>()));
  CHECK(ml_margins["stddev"].get<double>() == doctest::Approx(full["stddev"].get<double>()));
}

TEST_CASE("merge --allow-missing joins dlma pairs files with dropped pairs, and only with --input" * doctest::test_suite("cli")) {
  const auto dir = make_dir("merge-dlma-missing");
  const auto input = dir / "in.jsonl";
  std::ofstream(input) << input_lines(true);
  std::vector<std::string> parts;
  for (int k = 0; k < 2; ++k) {
    const auto out = (dir / ("p" + std::to_string(k) + ".jsonl")).string();
    REQUIRE(run({"dlma", "--backend", "simulated", "--quiet", "--shard", std::to_string(k) + "/2", "--out", out, input.string()}).exit_code == 0);
    parts.push_back(out);
  }
  // A pair left out of a part, as --on-negative drop or a failed query leaves it out.
  auto p0 = lines_of(slurp(parts[0]));
  REQUIRE(p0.size() >= 2);
  const std::string dropped = nlohmann::json::parse(p0[1])["id"].get<std::string>();
  {
    std::ofstream f(parts[0], std::ios::trunc);
    for (std::size_t i = 0; i < p0.size(); ++i)
      if (i != 1) f << p0[i] << "\n";
  }
  const auto merged = (dir / "merged.jsonl").string();
  auto refused = run({"merge", "--input", input.string(), "--out", merged, parts[0], parts[1]});
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("id '" + dropped + "' is missing (0 of 1 lines)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(merged));
  auto allowed = run({"merge", "--allow-missing", "--input", input.string(), "--out", merged, parts[1], parts[0]});
  INFO(allowed.err);
  REQUIRE(allowed.exit_code == 0);
  CHECK(allowed.err.find("1 input id(s) without a line (--allow-missing): id '" + dropped + "' is missing") != std::string::npos);
  const auto lines = lines_of(slurp(merged));
  REQUIRE(lines.size() == 9);
  // Input order, the dropped id absent.
  std::vector<std::string> expected;
  for (const auto& l : lines_of(input_lines(true))) {
    const auto id = nlohmann::json::parse(l)["id"].get<std::string>();
    if (id != dropped) expected.push_back(id);
  }
  for (std::size_t i = 0; i < lines.size(); ++i) CHECK(nlohmann::json::parse(lines[i])["id"] == expected[i]);
  // A duplicate is still refused with --allow-missing; without --input the flag is an error.
  auto twice = run({"merge", "--allow-missing", "--input", input.string(), "--out", merged, parts[0], parts[1], parts[1]});
  CHECK(twice.exit_code == 2);
  CHECK(twice.err.find("appears 2 times") != std::string::npos);
  auto no_input = run({"merge", "--allow-missing", parts[0], parts[1]});
  CHECK(no_input.exit_code == 2);
  CHECK(no_input.err.find("--allow-missing needs --input") != std::string::npos);
}
