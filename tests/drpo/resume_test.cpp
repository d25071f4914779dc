#include <doctest/doctest.h>
#include <selfalign/drpo/drpo.hpp>
#include <selfalign/testing/drpo_sim.hpp>
#include <selfalign/wrappers/cached.hpp>
#include <selfalign/wrappers/metered.hpp>

#include <cstdlib>
#include <filesystem>

using namespace selfalign;
namespace sim = selfalign::testing::drpo_sim;

namespace {

std::filesystem::path temp_file(const std::string& name) {
  const char* dir = std::getenv("SELFALIGN_TEST_TMP");
  std::filesystem::path p = dir ? std::filesystem::path(dir) : std::filesystem::temp_directory_path();
  std::filesystem::create_directories(p);
  p /= name;
  std::filesystem::remove(p);
  return p;
}

struct sims {
  sim::base_model base;
  sim::optimizer_model opt;
  sim::critic_model critic;
  std::size_t calls() const { return base.calls() + opt.calls() + critic.calls(); }
  std::size_t repeated() const { return base.repeated_calls() + opt.repeated_calls() + critic.repeated_calls(); }
};

drpo::dataset data() {
  drpo::dataset d;
  d.queries = sim::training_queries();
  for (const auto& [q, a] : sim::seed_examples()) d.seed_examples.push_back({q, a});
  return d;
}

drpo::config cfg_for(std::size_t concurrency) {
  drpo::config cfg;
  cfg.depth = 6;
  cfg.max_depth_increase = 2;
  cfg.max_concurrency = concurrency;
  return cfg;
}

// The recommended stack per role: cached<metered<B>>, one store, one meter.
drpo::report run_stacked(sims& s, std::shared_ptr<cache_store> store, std::shared_ptr<meter> m, const drpo::config& cfg) {
  cached base(metered(s.base, m, "base"), store, "base");
  cached opt(metered(s.opt, m, "optimizer"), store, "optimizer");
  auto sel = drpo::make_selector(cached(metered(s.critic, m, "selector"), store, "selector"), cfg);
  auto judge = drpo::make_judge(cached(metered(s.critic, m, "judge"), store, "judge"), cfg);
  auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), data(), cfg);
  REQUIRE(rep);
  return std::move(*rep);
}

// The trace without usage (replayed answers are marked from_cache).
nlohmann::json comparable(const drpo::report& r) {
  nlohmann::json j = {{"trace", r.trace}, {"icl", r.icl}, {"examples", r.examples}, {"best_prompt", r.best_prompt},
                      {"best_path", r.best_path}, {"rejected", r.rejected}};
  for (auto& c : j["trace"]) c["eval"]["verdict"].erase("usage");
  for (auto& t : j["icl"])
    for (auto& round : t["rounds"]) round["eval"]["verdict"].erase("usage");
  return j;
}

}  // namespace

TEST_CASE("drpo: a run stopped by a call budget resumes from the cache file to the identical result without repeated calls" * doctest::test_suite("drpo")) {
  for (std::size_t concurrency : {std::size_t{1}, std::size_t{8}}) {
    for (std::int64_t budget : {std::int64_t{10}, std::int64_t{60}}) {
      CAPTURE(concurrency);
      CAPTURE(budget);
      // Reference: one uninterrupted run.
      sims ref;
      const auto reference = run_stacked(ref, std::make_shared<cache_store>(), std::make_shared<meter>(), cfg_for(concurrency));
      REQUIRE(reference.complete);

      const auto path = temp_file("drpo_resume_" + std::to_string(concurrency) + "_" + std::to_string(budget) + ".jsonl");
      sims s;
      drpo::report first;
      {
        auto store = cache_store::open(path);
        REQUIRE(store);
        selfalign::budget b;
        b.max_calls = budget;
        first = run_stacked(s, *store, std::make_shared<meter>(b), cfg_for(concurrency));
      }
      CHECK_FALSE(first.complete);
      REQUIRE(first.error.has_value());
      CHECK(first.error->code == errc::budget_exhausted);
      CHECK(first.stop_reason == "budget_exhausted: the call budget of " + std::to_string(budget) + " calls is used up");
      CHECK(s.calls() == static_cast<std::size_t>(budget));
      CHECK_FALSE(first.best_prompt.empty());
      CHECK(first.total.calls - (first.usage_by_role.count("embedder") ? first.usage_by_role.at("embedder").calls : 0) == budget);
      if (budget == 10) {  // stopped during stage 1
        CHECK(first.trace.empty());
        CHECK(first.best_prompt == "You are a helpful assistant.");
      }
      else CHECK_FALSE(first.trace.empty());

      drpo::report second;
      {
        auto store = cache_store::open(path);
        REQUIRE(store);
        CHECK((*store)->stats().loaded == static_cast<std::size_t>(budget));
        second = run_stacked(s, *store, std::make_shared<meter>(), cfg_for(concurrency));
      }
      CHECK(second.complete);
      CHECK(comparable(second) == comparable(reference));
      CHECK(second.cache_hits == budget);
      // The backends never saw a call twice, and together the two runs made exactly the reference's calls.
      CHECK(s.repeated() == 0);
      CHECK(s.calls() == ref.calls());
    }
  }
}
