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
