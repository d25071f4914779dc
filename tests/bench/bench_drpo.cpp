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

outcome run(std::size_t concurrency, std::chrono::microseconds latency, bool full_width) {
  sim::base_model base;
  sim::optimizer_model opt;
  sim::critic_model critic;
  for (sim::sim_base* s : std::initializer_list<sim::sim_base*>{&base, &opt, &critic}) s->set_latency(latency);
  drpo::config cfg;  // the paper's defaults: W 2, A 3, depth 20 (+10)
  cfg.max_concurrency = concurrency;
  if (full_width) {  // never skip: every level expands W states into W*A candidates
    cfg.skip_threshold = 6.0;
    cfg.max_score = 6.0;
    cfg.dedup_candidates = false;  // as the original: every proposal is evaluated
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
  if (!rep) {
    fmt::print("error: {}\n", rep.error().describe());
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

void report_scenario(const char* name, std::chrono::microseconds latency, bool full_width) {
  const outcome seq = run(1, latency, full_width);
  const outcome par = run(8, latency, full_width);
  const drpo::report& r = seq.rep;
  const std::size_t W = 2, A = 3;
  const std::size_t levels = r.search.levels;
  std::size_t duplicates = 0;
  for (const auto& x : r.rejected) duplicates += x.reason.rfind("duplicate", 0) == 0 ? 1 : 0;
  std::size_t icl_revisions = 0;
  for (const auto& e : r.icl) icl_revisions += e.rounds.size() - 1;
  const std::size_t s2_opt = seq.opt - icl_revisions, s2_sel = seq.selection - r.icl.size(),
                    s2_judge = seq.judge - r.icl.size() - icl_revisions;
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
  fmt::print("\n{:<28}{:>10}{:>16}{:>22}\n", "calls (stage 2)", "selfalign", "original, same", "spec bound W,A=2,3");
  fmt::print("{:<28}{:>10}{:>16}{:>22}\n", "optimizer requests (n=3)", s2_opt, s2_opt, fmt::format("<= {}", levels * W));
  fmt::print("{:<28}{:>10}{:>16}{:>22}\n", "base generations", seq.base, seq.base + duplicates, fmt::format("<= {}", 1 + levels * W * A));
  fmt::print("{:<28}{:>10}{:>16}{:>22}\n", "judge calls", s2_judge, s2_judge + duplicates, fmt::format("<= {}", 1 + levels * W * A));
  fmt::print("{:<28}{:>10}{:>16}{:>22}\n", "aspect selections", s2_sel, s2_sel, fmt::format("<= {}", 1 + levels));
  fmt::print("stage 1 ({} examples): {} selections, {} judge calls, {} optimizer requests (spec bound {} requests)\n", r.icl.size(),
             r.icl.size(), r.icl.size() + icl_revisions, icl_revisions, r.icl.size() * (2 + 5 * 2));
  fmt::print("\nwall time: concurrency 1 {:.2f} s, concurrency 8 {:.2f} s, speed-up {:.2f}x (max in flight {})\n", seq.seconds,
             par.seconds, speedup, par.max_in_flight);
  fmt::print("parallel width offered: {} calls over {} dependent rounds = {:.2f} per round (usable at 8: {:.2f}); "
             "speed-up / width = {:.2f} (goal >= 0.8)\n",
             total, rounds, width, usable, speedup / usable);
}

// Base + judge calls and the best path's reward over 20 seeds: selfalign's default search against the
// original's (every proposal evaluated: dedup_candidates = false). No latency: only calls count.
struct seed_comparison {
  double calls_ratio = 0;
  double equal_or_better_share = 0;
  std::size_t seeds = 0;
};
seed_comparison compare_seeds(std::size_t seeds) {
  seed_comparison out;
  out.seeds = seeds;
  std::size_t ours_calls = 0, original_calls = 0, equal_or_better = 0;
  double worst = 0;
  for (std::size_t seed = 1; seed <= seeds; ++seed) {
    auto once = [&](bool original) {
      sim::base_model base;
      sim::optimizer_model opt;
      sim::critic_model critic;
      drpo::config cfg;
      cfg.seed = seed;
      cfg.max_concurrency = 8;
      cfg.dedup_candidates = !original;
      drpo::dataset data;
      data.queries = queries();
      for (const auto& [q, a] : sim::seed_examples()) data.seed_examples.push_back({q, a});
      auto sel = drpo::make_selector(critic, cfg);
      auto judge = drpo::make_judge(critic, cfg);
      auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg);
      if (!rep || !rep->complete) std::exit(1);
      return std::pair{base.calls() + critic.judge_calls(), rep->best_score.value_or(0.0)};
    };
    const auto [ours, ours_reward] = once(false);
    const auto [orig, orig_reward] = once(true);
    ours_calls += ours;
    original_calls += orig;
    if (ours_reward >= orig_reward - 1e-12) ++equal_or_better;
    worst = std::min(worst, ours_reward - orig_reward);
  }
  out.calls_ratio = static_cast<double>(ours_calls) / static_cast<double>(original_calls);
  out.equal_or_better_share = static_cast<double>(equal_or_better) / static_cast<double>(seeds);
  fmt::print("\n== {} seeds, default search vs the original's (no deduplication) ==\n", seeds);
  fmt::print("base + judge calls: {} vs {} ({:.2f}); best reward equal or better in {} of {} seeds; worst difference {:.3f}\n",
             ours_calls, original_calls, out.calls_ratio, equal_or_better, seeds, worst);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int ms = argc > 1 ? std::atoi(argv[1]) : 10;
  const auto latency = std::chrono::microseconds(ms * 1000);
  fmt::print("bench_drpo: simulated models, {} ms per call, default config (W 2, A 3, depth 20 +10, 4 ICL examples x 5 rounds)\n", ms);
  report_scenario("default run (skips carry good prompts forward)", latency, false);
  report_scenario("full width (no skips, no deduplication: every level expands W*A candidates)", latency, true);
  const seed_comparison c = compare_seeds(20);
  // The headline figures as one JSON object, the last line, for tracking over time.
  fmt::print("{}\n", nlohmann::json{{"calls_ratio", c.calls_ratio},
                                     {"reward_equal_or_better_share", c.equal_or_better_share},
                                     {"seeds", c.seeds}}
                         .dump());
  return 0;
}
