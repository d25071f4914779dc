// RAIN's formulas against hand-computed values.
#include <doctest/doctest.h>

#include <selfalign/judges/detail/self_eval_values.hpp>
#include <selfalign/rain/detail/formulas.hpp>

#include <cmath>
#include <string>
#include <vector>

using namespace selfalign::rain::detail;
using doctest::Approx;

TEST_CASE("puct code variant normalizes the value by the root range and gives unvisited nodes zero value" * doctest::test_suite("rain")) {
  // qhat = (0.5 - -1) / (1 - -1 + 1e-5) = 1.5 / 2.00001; u = 2 * 0.3 * sqrt(4) / (1 + 2) = 0.4
  CHECK(puct_code(0.5, 2, 0.3, 4, -1, 1, 2) == Approx(1.5 / 2.00001 + 0.4).epsilon(1e-12));
  // unvisited: 0 + 2 * 0.3 * 2 / 1 = 1.2, whatever its stored q
  CHECK(puct_code(0.9, 0, 0.3, 4, -1, 1, 2) == Approx(1.2));
  CHECK(normalized_value(-1, 1, -1, 1) == 0.0);
  // c = 0 removes exploration
  CHECK(puct_code(0.5, 2, 0.3, 4, -1, 1, 0) == Approx(1.5 / 2.00001));
}

TEST_CASE("puct paper variant uses the raw value and the siblings' visit sum" * doctest::test_suite("rain")) {
  // 0.5 + 2 * 0.3 * sqrt(9) / (1 + 2) = 0.5 + 0.6 = 1.1
  CHECK(puct_paper(0.5, 2, 0.3, 9, 2) == Approx(1.1));
  CHECK(puct_paper(-1, 0, 0.7, 0, 2) == Approx(-1.0));
}

TEST_CASE("backup value update is a running mean over possibly fractional visits" * doctest::test_suite("rain")) {
  CHECK(updated_value(0.5, 4, -1) == Approx(0.125));  // 0.5 + (-1.5) / 4
  CHECK(updated_value(0, 1, 1) == Approx(1.0));
  // n = 1.2 after a similarity update: q moves by (g - q) / 1.2
  CHECK(updated_value(1.0, 2.2, -1) == Approx(1.0 - 2.0 / 2.2));
  std::vector<float> mean;
  update_embedding_mean(mean, std::vector<float>{1, 0}, 1);
  CHECK(mean == std::vector<float>{1, 0});
  update_embedding_mean(mean, std::vector<float>{0, 1}, 2);
  CHECK(mean == std::vector<float>{0.5f, 0.5f});
}

TEST_CASE("similarity update moves a sibling by gamma times similarity, only at or above the threshold" * doctest::test_suite("rain")) {
  // w = 0.2 * 0.97 = 0.194; n = 2.194; q = (0.5 * 2 + 0.194 * -1) / 2.194 = 0.806 / 2.194
  const auto m = similarity_update({2.0, 0.5}, 0.97, -1.0, 0.2, 0.95);
  CHECK(m.n == Approx(2.194));
  CHECK(m.q == Approx(0.806 / 2.194));
  CHECK(m.q == Approx(0.367365542));
  // below the threshold: unchanged
  CHECK(similarity_update({2.0, 0.5}, 0.94, -1.0, 0.2, 0.95) == visit_mass{2.0, 0.5});
  // exactly at the threshold: updated (the code skips only "< threshold")
  CHECK(similarity_update({1.0, 0.0}, 0.95, 1.0, 0.2, 0.95).n == Approx(1.19));
  // fractional visits accumulate: an unvisited sibling gets n = 0.2 and q = g, then a second update
  auto a = similarity_update({0.0, 0.0}, 1.0, 1.0, 0.2, 0.95);
  CHECK(a.n == Approx(0.2));
  CHECK(a.q == Approx(1.0));
  a = similarity_update(a, 0.96, -1.0, 0.2, 0.95);  // w = 0.192
  CHECK(a.n == Approx(0.392));
  CHECK(a.q == Approx((0.2 - 0.192) / 0.392));
}

TEST_CASE("root prior mixing is 0.75 p + 0.25 uniform on the raw priors, normalized afterwards (the code's order)" * doctest::test_suite("rain")) {
  auto p = mix_root_prior({0.6, 0.4}, 0.75);
  CHECK(p[0] == Approx(0.575));
  CHECK(p[1] == Approx(0.425));
  // Priors that do not sum to 1 (as after a dynamic addition): mixed raw, then normalized:
  // 0.75 * 3 + 0.125 = 2.375 and 0.75 * 1 + 0.125 = 0.875, over 3.25. Normalizing first would
  // give 0.6875 / 0.3125.
  p = mix_root_prior({3, 1}, 0.75);
  CHECK(p[0] == Approx(2.375 / 3.25));
  CHECK(p[1] == Approx(0.875 / 3.25));
  p = mix_root_prior({0.5, 0.3}, 0.75);  // sum 0.8: (0.5, 0.35) / 0.85
  CHECK(p[0] == Approx((0.75 * 0.5 + 0.125) / 0.85));
  CHECK(p[1] == Approx((0.75 * 0.3 + 0.125) / 0.85));
  p = mix_root_prior({0.5, 0.3, 0.2}, 0.75);
  CHECK(p[2] == Approx(0.75 * 0.2 + 0.25 / 3));
  CHECK(mix_root_prior({1.0}, 0.75)[0] == Approx(1.0));
}

TEST_CASE("top-k renormalization and the greedy prior clamp" * doctest::test_suite("rain")) {
  const std::vector<double> top{std::log(0.4), std::log(0.2), std::log(0.2)};
  CHECK(renormalized_logprob(std::log(0.4), top) == Approx(std::log(0.5)));  // 0.4 / 0.8
  CHECK(renormalized_logprob(std::log(0.1), top) == Approx(std::log(0.1 / 0.9)));  // not among the top: added
  const auto s = softmax(std::vector<double>{std::log(3.0), std::log(1.0)});
  CHECK(s[0] == Approx(0.75));
  // max(min(p_g, sum), max + min)
  CHECK(greedy_prior(0.3, std::vector<double>{0.1, 0.05}) == Approx(0.15));   // min(0.3, 0.15) = 0.15
  CHECK(greedy_prior(0.3, std::vector<double>{0.2, 0.15}) == Approx(0.35));   // max(0.3, 0.35)
  CHECK(greedy_prior(0.12, std::vector<double>{0.1, 0.01}) == Approx(0.11));  // max(0.11, 0.11)
  CHECK(greedy_prior(0.3, std::vector<double>{}) == Approx(0.3));
}

TEST_CASE("token-set lengths follow 1, 2, 4, then 10" * doctest::test_suite("rain")) {
  const std::vector<int> schedule{1, 2, 4, 10};
  std::vector<int> got;
  for (int d = 0; d < 6; ++d) got.push_back(token_set_length(schedule, d));
  CHECK(got == std::vector<int>{1, 2, 4, 10, 10, 10});
}

TEST_CASE("inner-loop stop rule: code uses strict tests on real visits, paper uses the iteration count" * doctest::test_suite("rain")) {
  CHECK(stop_code(7, 0.9, 6, 0.8));
  CHECK_FALSE(stop_code(6, 0.9, 6, 0.8));  // fn must exceed T_m
  CHECK_FALSE(stop_code(7, 0.8, 6, 0.8));  // q must exceed V
  CHECK(stop_paper(6, 0.8, 6, 0.8));
  CHECK_FALSE(stop_paper(5, 1.0, 6, 0.8));
  CHECK_FALSE(stop_paper(6, 0.79, 6, 0.8));
}

TEST_CASE("dynamic node addition: unbiased embedding variance norm under 0.03 L and all values negative" * doctest::test_suite("rain")) {
  // (1,0) and (0,1): mean (0.5, 0.5), unbiased variance 0.5 per dimension, norm sqrt(0.5) = 0.7071
  const std::vector<std::vector<float>> two{{1, 0}, {0, 1}};
  CHECK(embedding_variance_norm(two) == Approx(std::sqrt(0.5)));
  const std::vector<std::vector<float>> same{{0.6f, 0.8f}, {0.6f, 0.8f}, {0.6f, 0.8f}};
  CHECK(embedding_variance_norm(same) == Approx(0.0));
  const std::vector<std::vector<float>> one{{1, 0}};
  CHECK(std::isnan(embedding_variance_norm(one)));
  CHECK(should_add_child(2, true, 0.05, 2, -0.5, 20, 0.03, 0.0));        // 0.05 < 0.06, -0.5 < 0
  CHECK_FALSE(should_add_child(2, true, 0.05, 1, -0.5, 20, 0.03, 0.0));  // 0.05 >= 0.03
  CHECK_FALSE(should_add_child(2, true, 0.05, 2, 0.0, 20, 0.03, 0.0));   // a child is not below 0
  CHECK_FALSE(should_add_child(20, true, 0.0, 2, -1, 20, 0.03, 0.0));    // 20 children
  CHECK_FALSE(should_add_child(2, false, 0.0, 2, -1, 20, 0.03, 0.0));    // a child has no embedding
  CHECK_FALSE(should_add_child(1, true, std::nan(""), 2, -1, 20, 0.03, 0.0));  // one child: NaN
}

TEST_CASE("self-evaluation values: hard in {-1, 0, 1}, soft as a probability difference" * doctest::test_suite("rain")) {
  CHECK(selfalign::judges::detail::hard_value(true, true) == 1.0);
  CHECK(selfalign::judges::detail::hard_value(true, false) == 0.0);
  CHECK(selfalign::judges::detail::hard_value(false, true) == 0.0);
  CHECK(selfalign::judges::detail::hard_value(false, false) == -1.0);
  CHECK(selfalign::judges::detail::soft_value(std::vector<double>{0.9, 0.3}, std::vector<double>{0.1, 0.7}) == Approx(0.2));  // (0.8 - 0.4) / 2
  CHECK(to_value(3, 1, 5) == Approx(0.0));
  CHECK(to_value(5, 1, 5) == Approx(1.0));
  CHECK(to_value(9, 1, 5) == Approx(1.0));  // clamped
}

TEST_CASE("clause ends are detected at the end of a text and found inside one" * doctest::test_suite("rain")) {
  const std::vector<std::string> ends{",", ".", "?", ":", ";", "\n"};
  CHECK(ends_clause("Assistant:", ends));
  CHECK_FALSE(ends_clause("Assistant", ends));
  CHECK(first_clause_end(" is how to make it: mix, stir.", ends) == 19);  // ":" is at index 18; just past ':'
  CHECK(first_clause_end("no end here", ends) == std::string::npos);
}
