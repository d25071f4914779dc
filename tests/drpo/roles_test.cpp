// drpo::roles with an embedder that cannot be default-constructed: given, it serves retrieval in
// both stages; left null, the run is refused before any call. (No hidden requirement that an
// Embedder be default-constructible: the Embedder concept does not ask for it.)
#include <doctest/doctest.h>

#include <selfalign/drpo/drpo.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/testing/drpo_sim.hpp>

#include <type_traits>
#include <vector>

using namespace selfalign;
namespace sim = selfalign::testing::drpo_sim;

namespace {

// Counts its calls in a counter it is given: it has no default constructor.
class counting_embedder {
 public:
  explicit counting_embedder(int& calls) : calls_(&calls) {}
  result<embeddings> embed(const embedding_request& req) {
    ++*calls_;
    return inner_.embed(req);
  }

 private:
  hashed_ngram_embedder inner_;
  int* calls_;
};
static_assert(Embedder<counting_embedder>);
static_assert(!std::is_default_constructible_v<counting_embedder>);

drpo::dataset roles_test_data() {
  drpo::dataset d;
  d.queries = sim::training_queries();
  d.examples = {{"How do I pick a lock?", "I can't help with that."}, {"How do I bake bread?", "Mix flour, water and yeast."}};
  return d;
}

drpo::config roles_test_config() {
  drpo::config cfg;
  cfg.depth = 2;
  cfg.max_concurrency = 1;
  return cfg;
}

}  // namespace

TEST_CASE("drpo: an embedder without a default constructor is used when given, and a null one is refused" * doctest::test_suite("drpo")) {
  sim::base_model base;
  sim::optimizer_model opt;
  sim::critic_model critic;
  const drpo::config cfg = roles_test_config();
  auto sel = drpo::make_selector(critic, cfg);
  auto judge = drpo::make_judge(critic, cfg);
  int calls = 0;
  counting_embedder emb(calls);

  // Given: the index is built and queries are retrieved through it.
  auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt, emb), roles_test_data(), cfg);
  REQUIRE(rep);
  CHECK(rep->status.complete);
  CHECK(calls > 0);
  CHECK(rep->run_usage.by_role.at("embedder").calls == calls);

  // Left null: refused with the reason, before any model call.
  auto r = drpo::make_roles(base, sel, judge, opt, emb);
  r.embedder = nullptr;
  const std::size_t base_calls = base.calls();
  auto refused = drpo::optimize(r, roles_test_data(), cfg);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::invalid_argument);
  CHECK(refused.error().message ==
        "drpo: roles.embedder is null and its type cannot be default-constructed; pass the embedder to make_roles");
  CHECK(base.calls() == base_calls);
  auto refused_stage1 = drpo::optimize_examples(r, {{"How do I pick a lock?", "Like this."}}, cfg);
  REQUIRE_FALSE(refused_stage1);
  CHECK(refused_stage1.error().code == errc::invalid_argument);

  // make_roles without an embedder still runs with a default hashed_ngram_embedder.
  auto plain = drpo::optimize(drpo::make_roles(base, sel, judge, opt), roles_test_data(), cfg);
  REQUIRE(plain);
  CHECK(plain->status.complete);
}

namespace {

// A strategy of the user's own: search::beam ranking by the sum of rewards, which names itself and
// its aggregation, and reports a stop after its search so that the report falls back to the best
// path by DRPO's own path scores.
class summing_beam {
 public:
  [[nodiscard]] std::string_view name() const { return "summing-beam"; }
  [[nodiscard]] search::reward_aggregation aggregation() const { return search::reward_aggregation::sum; }
  template <SearchProblem P>
  result<search_outcome<typename P::state_type>> search(P& p) {
    auto r = inner_.search(p);
    if (!r) return r;
    return fail(errc::cancelled, "stopped by the test after its search");
  }

 private:
  search::beam inner_{search::beam_options{2, 3, 0, search::reward_aggregation::sum}};
};

// Sum and mean of the step rewards along the path ending at `id` (the initial prompt's excluded).
std::pair<double, double> sum_and_mean_along(const std::vector<drpo::candidate>& trace, std::size_t id) {
  double sum = 0;
  std::size_t n = 0;
  for (std::optional<std::size_t> k = id; k && *k != 0; k = trace[*k].parent) {
    sum += *trace[*k].eval.reward;
    ++n;
  }
  return {sum, n ? sum / static_cast<double>(n) : 0.0};
}

}  // namespace

TEST_CASE("drpo: a strategy's own name() and aggregation() are what the report and DRPO's path scores use" * doctest::test_suite("drpo")) {
  sim::base_model base;
  sim::optimizer_model opt;
  sim::critic_model critic;
  drpo::config cfg = roles_test_config();
  cfg.depth = 3;
  auto sel = drpo::make_selector(critic, cfg);
  auto judge = drpo::make_judge(critic, cfg);
  summing_beam strategy;
  auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), roles_test_data(), cfg, strategy);
  REQUIRE(rep);
  CHECK(rep->strategy == "summing-beam");
  CHECK(rep->status.stop_reason == "cancelled: stopped by the test after its search");
  REQUIRE(rep->trace.size() > 3);
  // The stopped run's best path is the one with the highest sum (DRPO asked the strategy), and its
  // score is that sum, not the mean DRPO used for any strategy but search::beam before.
  std::size_t best_by_sum = 1;
  for (std::size_t id = 1; id < rep->trace.size(); ++id)
    if (sum_and_mean_along(rep->trace, id).first > sum_and_mean_along(rep->trace, best_by_sum).first) best_by_sum = id;
  CHECK(rep->best_path.back() == best_by_sum);
  REQUIRE(rep->best_path.size() == 3);
  const auto [sum, mean] = sum_and_mean_along(rep->trace, best_by_sum);
  CHECK(rep->best_score == doctest::Approx(sum));
  CHECK(sum != doctest::Approx(mean));

  auto with_beam = drpo::optimize(drpo::make_roles(base, sel, judge, opt), roles_test_data(), cfg, search::greedy{});
  REQUIRE(with_beam);
  CHECK(with_beam->strategy == "greedy");
}
