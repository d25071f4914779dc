// eval statistics: the bootstrap checked against an independent, straightforward recomputation
// (fixed seed, fixed data), the published SplitMix64 reference output, and textbook intervals.
#include <doctest/doctest.h>
#include <selfalign/eval/evaluation.hpp>
#include <selfalign/eval/statistics.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

using namespace selfalign;

namespace {

// A second implementation written from the documented procedure only (docs/evaluation.md).
struct reference_bootstrap {
  std::uint64_t state;
  std::uint64_t draw() {
    state = state + 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = state;
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z;
  }
  std::size_t index(std::size_t n) {
    // 2^64 mod n, computed as (2^64 - n) mod n.
    const std::uint64_t reject_below = (~std::uint64_t{0} - n + 1) % n;
    for (;;) {
      const std::uint64_t x = draw();
      if (x >= reject_below) return static_cast<std::size_t>(x % n);
    }
  }
};

double type7(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const double below = std::floor(pos);
  const std::size_t i = static_cast<std::size_t>(below);
  if (i + 1 >= v.size()) return v.back();
  return v[i] * (1.0 - (pos - below)) + v[i + 1] * (pos - below);
}

struct interval {
  double lo, hi;
};

interval reference_mean_ci(const std::vector<double>& x, std::uint64_t seed, int resamples) {
  reference_bootstrap r{seed};
  std::vector<double> means;
  for (int b = 0; b < resamples; ++b) {
    double s = 0;
    for (std::size_t i = 0; i < x.size(); ++i) s += x[r.index(x.size())];
    means.push_back(s / static_cast<double>(x.size()));
  }
  return {type7(means, 0.025), type7(means, 0.975)};
}

interval reference_ratio_ci(const std::vector<double>& num, const std::vector<double>& den, std::uint64_t seed, int resamples) {
  reference_bootstrap r{seed};
  std::vector<double> ratios;
  for (int b = 0; b < resamples; ++b) {
    double a = 0, d = 0;
    for (std::size_t i = 0; i < num.size(); ++i) {
      const std::size_t k = r.index(num.size());
      a += num[k];
      d += den[k];
    }
    if (d != 0) ratios.push_back(a / d);
  }
  return {type7(ratios, 0.025), type7(ratios, 0.975)};
}

const std::vector<double> scores = {4, 5, 3, 4, 2, 5, 5, 3, 4, 1, 4, 4, 5, 2, 3, 4, 5, 4, 3, 4, 2, 5, 4, 4, 3};

}  // namespace

TEST_CASE("the generator is SplitMix64: seed 0 starts with the published reference output" * doctest::test_suite("eval")) {
  eval::detail::splitmix64 g(0);
  CHECK(g.next() == 0xE220A8397B1DCDAFULL);
  CHECK(g.next() == 0x6E789E6AA1B965F4ULL);
  CHECK(g.next() == 0x06C45D188009454FULL);
}

TEST_CASE("bootstrap_mean equals an independent recomputation for fixed seeds and data" * doctest::test_suite("eval")) {
  for (std::uint64_t seed : {0ULL, 7ULL, 20261129ULL}) {
    eval::bootstrap_options o;
    o.seed = seed;
    o.resamples = 1000;
    const auto e = eval::bootstrap_mean(scores, o);
    const auto ref = reference_mean_ci(scores, seed, 1000);
    double mean = 0;
    for (double s : scores) mean += s;
    mean /= static_cast<double>(scores.size());
    CHECK(e.n == 25);
    CHECK(e.value == doctest::Approx(mean).epsilon(1e-15));
    CHECK(e.ci_low == ref.lo);
    CHECK(e.ci_high == ref.hi);
    CHECK(e.ci_low < e.value);
    CHECK(e.value < e.ci_high);
  }
}

TEST_CASE("bootstrap_ratio (a win rate) equals an independent recomputation, undefined resamples skipped" * doctest::test_suite("eval")) {
  // 6 wins, 3 losses, 11 ties: win rate 6/9.
  std::vector<double> win, decided;
  for (int i = 0; i < 20; ++i) {
    win.push_back(i < 6 ? 1 : 0);
    decided.push_back(i < 9 ? 1 : 0);
  }
  eval::bootstrap_options o;
  o.seed = 42;
  o.resamples = 2000;
  const auto e = eval::bootstrap_ratio(win, decided, o);
  const auto ref = reference_ratio_ci(win, decided, 42, 2000);
  CHECK(e.value == doctest::Approx(6.0 / 9.0));
  CHECK(e.n == 20);
  CHECK(e.ci_low == ref.lo);
  CHECK(e.ci_high == ref.hi);
}

TEST_CASE("the same seed gives identical intervals, another seed different ones" * doctest::test_suite("eval")) {
  eval::bootstrap_options a, b;
  a.seed = b.seed = 3;
  const auto x = eval::bootstrap_mean(scores, a), y = eval::bootstrap_mean(scores, b);
  CHECK(x.ci_low == y.ci_low);
  CHECK(x.ci_high == y.ci_high);
  b.seed = 4;
  const auto z = eval::bootstrap_mean(scores, b);
  CHECK((z.ci_low != x.ci_low || z.ci_high != x.ci_high));
}

TEST_CASE("a 95% bootstrap interval of a rate is close to the textbook Wald interval" * doctest::test_suite("eval")) {
  std::vector<double> x(400, 0.0);
  for (std::size_t i = 0; i < 120; ++i) x[i * 3] = 1.0;  // p = 0.3
  const auto e = eval::bootstrap_mean(x);
  const double half = 1.96 * std::sqrt(0.3 * 0.7 / 400.0);  // 0.0449
  CHECK(e.value == doctest::Approx(0.3));
  CHECK(e.ci_low == doctest::Approx(0.3 - half).epsilon(0.02));
  CHECK(e.ci_high == doctest::Approx(0.3 + half).epsilon(0.02));
  CHECK(eval::items_for_half_width(0.3, 0.045) == 399);
  CHECK(eval::items_for_half_width(0.5, 0.05) == 385);
}

TEST_CASE("degenerate data: no items, constant values, undefined ratios" * doctest::test_suite("eval")) {
  const auto none = eval::bootstrap_mean(std::vector<double>{});
  CHECK(none.n == 0);
  CHECK_FALSE(none.defined());
  CHECK(eval::estimate_to_json(none)["value"].is_null());
  const auto same = eval::bootstrap_mean(std::vector<double>(10, 4.0));
  CHECK(same.value == 4.0);
  CHECK(same.ci_low == 4.0);
  CHECK(same.ci_high == 4.0);
  const auto ties = eval::bootstrap_ratio(std::vector<double>(5, 0.0), std::vector<double>(5, 0.0));
  CHECK(ties.n == 5);
  CHECK_FALSE(ties.defined());
  CHECK_FALSE(ties.has_interval());
}

TEST_CASE("paired_difference resamples items jointly and needs equal sizes" * doctest::test_suite("eval")) {
  const std::vector<double> a = {1, 1, 1, 0, 1, 1, 0, 1, 1, 1};
  const std::vector<double> b = {1, 0, 1, 0, 0, 1, 0, 0, 1, 0};
  eval::bootstrap_options o;
  o.seed = 11;
  o.resamples = 500;
  auto d = eval::paired_difference(a, b, o);
  REQUIRE(d);
  std::vector<double> diff;
  for (std::size_t i = 0; i < a.size(); ++i) diff.push_back(a[i] - b[i]);
  const auto ref = reference_mean_ci(diff, 11, 500);
  CHECK(d->value == doctest::Approx(0.4));
  CHECK(d->ci_low == ref.lo);
  CHECK(d->ci_high == ref.hi);
  auto bad = eval::paired_difference(a, std::vector<double>{1, 0});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "paired_difference: 10 values against 2; pairs need the same items");
}
