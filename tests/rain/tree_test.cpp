// The tree's selection, backup with the similarity update, dynamic addition and commit,
// against hand-computed values.
#include <doctest/doctest.h>

#include <selfalign/rain/tree.hpp>

#include <cmath>
#include <vector>

using namespace selfalign;
using namespace selfalign::rain;
using doctest::Approx;

namespace {
std::vector<token> toks(std::initializer_list<const char*> texts) {
  std::vector<token> out;
  for (const char* t : texts) out.push_back(token{t, std::nullopt, false});
  return out;
}
}  // namespace

TEST_CASE("expansion mixes the root's priors and selection follows the code's puct" * doctest::test_suite("rain")) {
  config cfg;
  tree t;
  t.expand(t.root(), {{toks({"Here"}), 0.6}, {toks({"I"}), 0.4}}, cfg);
  REQUIRE(t.at(t.root()).children.size() == 2);
  const int here = t.at(t.root()).children[0], i = t.at(t.root()).children[1];
  CHECK(t.at(here).prior == Approx(0.575));
  CHECK(t.at(i).prior == Approx(0.425));
  CHECK(t.at(here).path == "0");
  CHECK(t.at(i).path == "1");
  // A duplicate token set is not added.
  CHECK(t.add_child(t.root(), toks({"I"}), 0.1) == -1);
  t.backup(t.root(), 1.0, {}, cfg);  // root evaluated once: n = 1
  // unvisited: 2 * p * sqrt(1): Here 1.15 > I 0.85
  CHECK(t.score(here, cfg) == Approx(1.15));
  CHECK(t.select(t.root(), cfg) == here);
  t.backup(here, -1.0, {}, cfg);
  // Here: qhat = 0, u = 2 * 0.575 * sqrt(2) / 2 = 0.8132; I: 2 * 0.425 * sqrt(2) = 1.2021
  CHECK(t.score(here, cfg) == Approx(0.575 * std::sqrt(2.0)));
  CHECK(t.score(i, cfg) == Approx(0.85 * std::sqrt(2.0)));
  CHECK(t.select(t.root(), cfg) == i);
  CHECK(t.at(t.root()).q == Approx(0.0));  // mean of +1 and -1
  CHECK(t.min_q() == -1.0);
  CHECK(t.max_q() == 1.0);
  // The paper's rule: v + c p sqrt(sum of sibling n) / (1 + n): Here -1 + 2*0.575*1/2 = -0.425, I 0.85
  cfg.selection = puct_rule::paper;
  CHECK(t.score(here, cfg) == Approx(-0.425));
  CHECK(t.score(i, cfg) == Approx(0.85));
}

TEST_CASE("backup updates visits, values and embeddings and spreads value to similar siblings" * doctest::test_suite("rain")) {
  config cfg;
  tree t;
  t.expand(t.root(), {{toks({"a"}), 0.5}, {toks({"b"}), 0.5}}, cfg);
  const int a = t.at(t.root()).children[0], b = t.at(t.root()).children[1];
  t.at(b).n = 1;
  t.at(b).fn = 1;
  t.at(b).q = 1;
  t.at(b).embedding = {1.0f, 0.0f};
  // a's first simulated text embeds to (0.96, 0.28): cosine with b = 0.96 >= 0.95.
  const std::vector<std::vector<float>> e1{{0.96f, 0.28f}};
  t.backup(a, -1.0, e1, cfg);
  CHECK(t.at(a).n == 1.0);
  CHECK(t.at(a).fn == 1);
  CHECK(t.at(a).q == -1.0);
  // b: w = 0.2 * 0.96 = 0.192; n = 1.192; q = (1 * 1 + 0.192 * -1) / 1.192 = 0.808 / 1.192
  CHECK(t.at(b).n == Approx(1.192));
  CHECK(t.at(b).fn == 1);  // real visits are untouched
  CHECK(t.at(b).q == Approx(0.808 / 1.192));
  CHECK(t.at(t.root()).n == 1.0);
  CHECK(t.at(t.root()).q == -1.0);
  // Second visit of a with (1, 0): mean embedding (0.98, 0.14), cosine with b = 0.98 / sqrt(0.98^2 + 0.14^2)
  const std::vector<std::vector<float>> e2{{1.0f, 0.0f}};
  t.backup(a, 1.0, e2, cfg);
  CHECK(t.at(a).embedding[0] == Approx(0.98));
  CHECK(t.at(a).embedding[1] == Approx(0.14));
  const double sim = 0.98 / std::sqrt(0.98 * 0.98 + 0.14 * 0.14);
  const double w = 0.2 * sim;
  CHECK(t.at(b).n == Approx(1.192 + w));
  CHECK(t.at(b).q == Approx((0.808 + w * 1.0) / (1.192 + w)));
  CHECK(t.at(a).q == Approx(0.0));  // -1 + (1 - -1) / 2
  // Below the threshold nothing spreads.
  cfg.similarity_threshold = 0.999;
  const double bn = t.at(b).n;
  t.backup(a, 1.0, e2, cfg);
  CHECK(t.at(b).n == Approx(bn));
}

TEST_CASE("most visited child breaks ties on value; commit mixes the new root's child priors" * doctest::test_suite("rain")) {
  config cfg;
  tree t;
  t.expand(t.root(), {{toks({"x"}), 0.5}, {toks({"y"}), 0.5}}, cfg);
  const int x = t.at(t.root()).children[0], y = t.at(t.root()).children[1];
  t.at(x).n = 3;
  t.at(x).q = 0.2;
  t.at(y).n = 3;
  t.at(y).q = 0.4;
  CHECK(t.most_visited(t.root()) == y);
  t.at(x).n = 3.2;
  CHECK(t.most_visited(t.root()) == x);
  t.expand(x, {{toks({"1"}), 0.5}, {toks({"2"}), 0.3}, {toks({"3"}), 0.2}}, cfg);  // not the root: unmixed
  CHECK(t.at(t.at(x).children[2]).prior == Approx(0.2));
  t.commit(x, cfg);
  CHECK(t.root() == x);
  CHECK(t.at(t.at(x).children[0]).prior == Approx(0.75 * 0.5 + 0.25 / 3));
  CHECK(t.at(t.at(x).children[2]).prior == Approx(0.75 * 0.2 + 0.25 / 3));
}

TEST_CASE("commit mixes the new root's raw child priors and normalizes afterwards when they do not sum to 1" * doctest::test_suite("rain")) {
  config cfg;
  tree t;
  t.expand(t.root(), {{toks({"x"}), 0.5}, {toks({"y"}), 0.5}}, cfg);
  const int x = t.at(t.root()).children[0];
  // Below a non-root node priors stay as normalized at expansion (0.6, 0.4); a dynamic addition
  // then adds a third child with its own renormalized prior, so the three no longer sum to 1.
  t.expand(x, {{toks({"1"}), 0.6}, {toks({"2"}), 0.4}}, cfg);
  t.at(x).stored = {{toks({"1"}), 0.6}, {toks({"2"}), 0.3}, {toks({"3"}), 0.1}};
  for (int c : t.at(x).children) {
    t.at(c).embedding = {0.6f, 0.8f};
    t.at(c).q = -0.5;
  }
  REQUIRE(t.check_add(x, cfg) == addition::added_token);
  REQUIRE(t.at(x).children.size() == 3);
  CHECK(t.at(t.at(x).children[2]).prior == Approx(0.1));  // 0.1 / (0.6 + 0.3 + 0.1), not mixed
  // Raw priors 0.6, 0.4, 0.1 (sum 1.1); the code mixes first: 0.75 p + 0.25 / 3, then normalizes.
  t.commit(x, cfg);
  const double u = 0.25 / 3;
  const double total = 0.75 * 1.1 + 3 * u;
  CHECK(t.at(t.at(x).children[0]).prior == Approx((0.75 * 0.6 + u) / total));
  CHECK(t.at(t.at(x).children[1]).prior == Approx((0.75 * 0.4 + u) / total));
  CHECK(t.at(t.at(x).children[2]).prior == Approx((0.75 * 0.1 + u) / total));
}

TEST_CASE("dynamic addition adds the next stored token at length 1 and asks for samples at longer lengths" * doctest::test_suite("rain")) {
  config cfg;
  tree t;
  const int r = t.root();
  t.expand(r, {{toks({"a"}), 0.5}, {toks({"b"}), 0.3}}, cfg);
  t.at(r).stored = {{toks({"a"}), 0.5}, {toks({"b"}), 0.3}, {toks({"c"}), 0.2}};
  for (int c : t.at(r).children) {
    t.at(c).embedding = {0.6f, 0.8f};  // identical: variance 0
    t.at(c).q = -0.5;
  }
  CHECK(t.check_add(r, cfg) == addition::added_token);
  REQUIRE(t.at(r).children.size() == 3);
  // top-3 of the stored alternatives renormalized (0.5, 0.3, 0.2), mixed at the root
  CHECK(t.at(t.at(r).children[2]).prior == Approx(0.75 * 0.2 + 0.25 / 3));
  // The new child has no embedding yet: no further addition.
  CHECK(t.check_add(r, cfg) == addition::none);
  // A child valued >= 0 prevents addition.
  t.at(t.at(r).children[2]).embedding = {0.6f, 0.8f};
  t.at(t.at(r).children[2]).q = 0.0;
  CHECK(t.check_add(r, cfg) == addition::none);

  // Length 2 below a non-root node: the caller samples; add_sampled prepends and takes |children| + 1.
  const int a = t.at(r).children[0];
  t.expand(a, {{toks({"x", "x"}), 0.4}, {toks({"y", "y"}), 0.1}}, cfg);
  t.at(a).stored = {{toks({"x", "x"}), 0.4}, {toks({"y", "y"}), 0.1}};
  for (int c : t.at(a).children) {
    t.at(c).embedding = {1.0f, 0.0f};
    t.at(c).q = -1.0;
  }
  CHECK(t.check_add(a, cfg) == addition::sample);
  CHECK(t.add_sampled(a, {{toks({"z", "z"}), 0.3}, {toks({"x", "x"}), 0.4}}, cfg) == 1);
  REQUIRE(t.at(a).children.size() == 3);
  // first 3 of [z .3, x .4, x .4, y .1] normalized: z = 0.3 / 1.1
  CHECK(t.at(t.at(a).children[2]).prior == Approx(0.3 / 1.1));
  CHECK(text_of(t.at(t.at(a).children[2]).tokens) == "zz");
  cfg.dynamic_addition = false;
  CHECK(t.check_add(a, cfg) == addition::none);
}
