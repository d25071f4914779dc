// Benchmark: a default DRPO run against simulated models that sleep a fixed latency per call, at
// concurrency 1 and 8. Prints calls per role, the spec's cost bounds, wall times and the speed-up
// against the parallel width the algorithm offers per level.
//
//   ./build/tests/bench/bench_drpo [latency_ms=10]
#include <selfalign/drpo/drpo.hpp>
#include <selfalign/testing/drpo_sim.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <string>

using namespace selfalign;
namespace sim = selfalign::testing::drpo_sim;

namespace {

struct outcome {
  drpo::report rep;
  double seconds = 0;
  std::size_t base = 0, opt = 0, selection = 0, judge = 0;
  std::size_t max_in_flight = 0;
};

std::vector<std::string> queries() {
  std::vector<std::string> out;
  const auto base = sim::training_queries();
  for (int round = 0; round < 4; ++round)
    for (const auto& q : base) out.push_back(round == 0 ? q : q + " (variant " + std::to_string(round) + ")");
  return out;  // 48 queries: enough for depth 20 + 10
}

// One run; `original`: the original's search (reproduce_original_search, no deduplication);
// `variant` adjusts the default search's config (the bench's breakdown).
outcome run(std::size_t concurrency, std::chrono::microseconds latency, bool full_width, bool original = false,
            std::uint64_t seed = 0, const std::function<void(drpo::config&)>& variant = {}) {
  sim::base_model base;
  sim::optimizer_model opt;
  sim::critic_model critic;
  for (sim::sim_base* s : std::initializer_list<sim::sim_base*>{&base, &opt, &critic}) s->set_latency(latency);
  drpo::config cfg;  // the paper's defaults: W 2, A 3, depth 20 (+10)
  cfg.max_concurrency = concurrency;
  cfg.seed = seed;
  if (original) {
    cfg.reproduce_original_search = true;
    cfg.dedup_candidates = false;  // as the original: every proposal is evaluated
  }
  if (variant && !original) variant(cfg);
  if (full_width) {  // never skip: every level expands W states into W*A candidates
    cfg.skip_threshold = 6.0;
    cfg.max_score = 6.0;
  }
  drpo::dataset data;
  data.queries = queries();
  for (const auto& [q, a] : sim::seed_examples()) data.seed_examples.push_back({q, a});
  auto sel = drpo::make_selector(critic, cfg);
  auto judge = drpo::make_judge(critic, cfg);
  const auto t0 = std::chrono::steady_clock::now();
  auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg);
  outcome o;
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!rep || !rep->complete) {
    fmt::print("error: {}\n", rep ? rep->stop_reason : rep.error().describe());
    std::exit(1);
  }
  o.rep = std::move(*rep);
  o.base = base.calls();
  o.opt = opt.calls();
  o.selection = critic.selection_calls();
  o.judge = critic.judge_calls();
  o.max_in_flight = std::max({base.max_in_flight(), opt.max_in_flight(), critic.max_in_flight()});
  return o;
}

// Rounds of dependent calls (the critical path at unlimited width), from the trace:
// stage 1: selection, judge, then (optimizer, judge) per round; stage 2: the initial prompt's
// selection, base, judge, then per level (optimizer + selection together), base, judge.
std::size_t critical_rounds(const drpo::report& r) {
  std::size_t rounds = 0;
  if (!r.icl.empty()) {
    std::size_t max_rounds = 0;
    for (const auto& e : r.icl) max_rounds = std::max(max_rounds, e.rounds.size() - 1);
    rounds += 2 + 2 * max_rounds;
  }
  rounds += 3;
  std::map<std::size_t, bool> level_has_optimizer;
  for (const auto& c : r.trace)
    if (c.level > 0) level_has_optimizer[c.level] = level_has_optimizer[c.level] || c.origin != "carried";
  rounds += 3 * level_has_optimizer.size();  // per level: (optimizer and/or selection), base, judge
  return rounds;
}

void report_scenario(const char* name, std::chrono::microseconds latency, bool full_width, bool original) {
  const outcome seq = run(1, latency, full_width, original);
  const outcome par = run(8, latency, full_width, original);
  const outcome orig = run(8, std::chrono::microseconds(0), full_width, true);
  const drpo::report& r = seq.rep;
  const std::size_t W = 2, A = 3;
  const std::size_t levels = r.search.levels;
  std::size_t duplicates = 0;
  for (const auto& x : r.rejected) duplicates += x.reason.rfind("duplicate", 0) == 0 ? 1 : 0;
  std::size_t icl_revisions = 0;
  for (const auto& e : r.icl) icl_revisions += e.rounds.size() - 1;
  const std::size_t s2_opt = seq.opt - icl_revisions, s2_sel = seq.selection - r.icl.size(),
                    s2_judge = seq.judge - r.icl.size() - icl_revisions;
  const std::size_t o2_opt = orig.opt - icl_revisions, o2_sel = orig.selection - r.icl.size(),
                    o2_judge = orig.judge - r.icl.size() - icl_revisions;
  std::size_t pruned = 0, reused = 0;
  for (const auto& x : r.rejected) pruned += x.reason.rfind("cannot enter the beam", 0) == 0 ? 1 : 0;
  for (const auto& c : r.trace) reused += c.reused_from ? 1 : 0;
  const std::size_t total = seq.base + seq.opt + seq.selection + seq.judge;
  const std::size_t rounds = critical_rounds(r);
  const double width = static_cast<double>(total) / static_cast<double>(rounds);
  const double usable = std::min(width, 8.0);
  const double speedup = seq.seconds / par.seconds;

  fmt::print("\n== {} ==\n", name);
  fmt::print("identical results at concurrency 1 and 8: {}\n",
             nlohmann::json(seq.rep.trace) == nlohmann::json(par.rep.trace) && seq.rep.best_prompt == par.rep.best_prompt ? "yes" : "NO");
  fmt::print("stage 2: {} levels (depth budget {} after {} skip increases), {} candidates evaluated, {} duplicate proposals not re-evaluated\n",
             levels, r.search.final_max_depth, r.search.depth_increases, r.trace.size(), duplicates);
  fmt::print("best mean reward {:.3f}; best prompt principles: {}\n", r.best_score.value_or(-1.0),
             fmt::join(sim::principles_in(r.best_prompt), ", "));
  fmt::print("\n{:<28}{:>10}{:>16}{:>22}\n", "calls (stage 2)", "selfalign", "original", "spec bound W,A=2,3");
  fmt::print("{:<28}{:>10}{:>16}{:>22}\n", "optimizer requests (n=3)", s2_opt, o2_opt, fmt::format("<= {}", levels * W));
  fmt::print("{:<28}{:>10}{:>16}{:>22}\n", "base generations", seq.base, orig.base, fmt::format("<= {}", 1 + levels * W * A));
  fmt::print("{:<28}{:>10}{:>16}{:>22}\n", "judge calls", s2_judge, o2_judge, fmt::format("<= {}", 1 + levels * W * A));
  fmt::print("{:<28}{:>10}{:>16}{:>22}\n", "aspect selections", s2_sel, o2_sel, fmt::format("<= {}", 1 + levels));
  fmt::print("candidates not evaluated because they could not enter the beam: {}; reusing an earlier identical (prompt, query) "
             "evaluation: {}; stop reason: {} (original: {}, {} levels)\n",
             pruned, reused, r.stop_reason, orig.rep.stop_reason, orig.rep.search.levels);
  fmt::print("stage 1 ({} examples): {} selections, {} judge calls, {} optimizer requests (spec bound {} requests)\n", r.icl.size(),
             r.icl.size(), r.icl.size() + icl_revisions, icl_revisions, r.icl.size() * (2 + 5 * 2));
  fmt::print("\nwall time: concurrency 1 {:.2f} s, concurrency 8 {:.2f} s, speed-up {:.2f}x (max in flight {})\n", seq.seconds,
             par.seconds, speedup, par.max_in_flight);
  fmt::print("parallel width offered: {} calls over {} dependent rounds = {:.2f} per round (usable at 8: {:.2f}); "
             "speed-up / width = {:.2f} (goal >= 0.8)\n",
             total, rounds, width, usable, speedup / usable);
}

// The simulated judge's mean reward for `prompt` over every training query (the simulation's own
// rubric, no call): how good the returned prompt is, comparable between searches whatever paths
// they took.
double prompt_reward(const std::string& prompt) {
  const auto qs = queries();
  double sum = 0;
  for (const auto& q : qs) sum += sim::reward_for(q, sim::principles_in(prompt));
  return sum / static_cast<double>(qs.size());
}

// Base + judge calls (both stages) and the returned prompt's reward over 20 seeds: the default
// (economical) search against the original's (reproduce_original_search, every proposal evaluated:
// dedup_candidates = false). No latency: only calls count.
struct seed_comparison {
  double calls_ratio = 0;
  double equal_or_better_share = 0;
  std::size_t seeds = 0;
};
seed_comparison compare_seeds(std::size_t seeds) {
  seed_comparison out;
  out.seeds = seeds;
  std::size_t ours_calls = 0, original_calls = 0, equal_or_better = 0, path_equal_or_better = 0;
  double worst = 0, worst_path = 0;
  for (std::size_t seed = 1; seed <= seeds; ++seed) {
    const outcome ours = run(8, std::chrono::microseconds(0), false, false, seed);
    const outcome orig = run(8, std::chrono::microseconds(0), false, true, seed);
    const double ours_reward = prompt_reward(ours.rep.best_prompt), orig_reward = prompt_reward(orig.rep.best_prompt);
    const double ours_path = ours.rep.best_score.value_or(0.0), orig_path = orig.rep.best_score.value_or(0.0);
    ours_calls += ours.base + ours.judge;
    original_calls += orig.base + orig.judge;
    if (ours_reward >= orig_reward - 1e-12) ++equal_or_better;
    if (ours_path >= orig_path - 1e-12) ++path_equal_or_better;
    worst = std::min(worst, ours_reward - orig_reward);
    worst_path = std::min(worst_path, ours_path - orig_path);
  }
  out.calls_ratio = static_cast<double>(ours_calls) / static_cast<double>(original_calls);
  out.equal_or_better_share = static_cast<double>(equal_or_better) / static_cast<double>(seeds);
  fmt::print("\n== {} seeds, default search vs the original's (reproduce_original_search, no deduplication) ==\n", seeds);
  fmt::print("base + judge calls (both stages): {} vs {} ({:.3f})\n", ours_calls, original_calls, out.calls_ratio);
  fmt::print("returned prompt's reward over all {} training queries: equal or better in {} of {} seeds; worst difference {:.3f}\n",
             queries().size(), equal_or_better, seeds, worst);
  fmt::print("best path's mean reward (report.best_score; a shorter path averages fewer of the good prompt's rewards): "
             "equal or better in {} of {} seeds; worst difference {:.3f}\n",
             path_equal_or_better, seeds, worst_path);
  return out;
}

// What each part of the economical search saves: base + judge calls against the original's over
// the same seeds, and in how many seeds best_score (the path mean) is equal or better.
void breakdown(std::size_t seeds) {
  struct variant {
    const char* name;
    std::function<void(drpo::config&)> apply;
  };
  const std::vector<variant> variants{
      {"original's search + deduplication (the default before)", [](drpo::config& c) { c.reproduce_original_search = true; }},
      {"pruning + reuse, converged_levels 0", [](drpo::config& c) { c.converged_levels = 0; }},
      {"pruning + reuse, converged_levels 0, no deduplication", [](drpo::config& c) { c.converged_levels = 0; c.dedup_candidates = false; }},
      {"default: pruning + reuse + converged stop", [](drpo::config&) {}},
      {"default, no deduplication", [](drpo::config& c) { c.dedup_candidates = false; }},
  };
  fmt::print("\n== breakdown over {} seeds: base + judge calls vs the original's search; best_score equal or better ==\n", seeds);
  std::vector<outcome> originals;
  std::size_t original_calls = 0;
  for (std::size_t seed = 1; seed <= seeds; ++seed) {
    originals.push_back(run(8, std::chrono::microseconds(0), false, true, seed));
    original_calls += originals.back().base + originals.back().judge;
  }
  for (const auto& v : variants) {
    std::size_t calls = 0, path_ok = 0;
    for (std::size_t seed = 1; seed <= seeds; ++seed) {
      const outcome o = run(8, std::chrono::microseconds(0), false, false, seed, v.apply);
      calls += o.base + o.judge;
      path_ok += o.rep.best_score.value_or(0.0) >= originals[seed - 1].rep.best_score.value_or(0.0) - 1e-12 ? 1 : 0;
    }
    fmt::print("{:<58}{:>6} / {} = {:.3f}; best_score equal or better in {} of {}\n", v.name, calls, original_calls,
               static_cast<double>(calls) / static_cast<double>(original_calls), path_ok, seeds);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int ms = argc > 1 ? std::atoi(argv[1]) : 10;
  const auto latency = std::chrono::microseconds(ms * 1000);
  fmt::print("bench_drpo: simulated models, {} ms per call, default config (W 2, A 3, depth 20 +10, 4 ICL examples x 5 rounds)\n", ms);
  report_scenario("default run (skips carry good prompts forward)", latency, false, false);
  report_scenario("full width, the original's search (no skips, no deduplication: every level expands W*A candidates)", latency,
                  true, true);
  breakdown(20);
  const seed_comparison c = compare_seeds(20);
  // The headline figures as one JSON object, the last line, for tracking over time.
  fmt::print("{}\n", nlohmann::json{{"calls_ratio", c.calls_ratio},
                                     {"reward_equal_or_better_share", c.equal_or_better_share},
                                     {"seeds", c.seeds}}
                         .dump());
  return 0;
}
