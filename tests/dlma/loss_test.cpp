// The DPO-with-margin loss −log σ(β(h − w·clip(R))) and its gradient with respect to h.
#include <doctest/doctest.h>

#include <selfalign/dlma/loss.hpp>

#include <cmath>
#include <vector>

namespace dlma = selfalign::dlma;

TEST_CASE("the margin loss matches hand-computed values" * doctest::test_suite("dlma")) {
  // h = 0, R = 0: z = 0, loss = log 2, grad = −β/2.
  auto v = dlma::margin_dpo_loss(0.0, 0.0);
  CHECK(v.loss == doctest::Approx(0.6931471805599453).epsilon(1e-15));
  CHECK(v.grad_h == doctest::Approx(-0.05).epsilon(1e-15));
  // h = 10, R = 20: z = 0.1 · (10 − 0.2 · 20) = 0.6; loss = log(1 + e^−0.6); grad = −0.1 / (1 + e^0.6).
  v = dlma::margin_dpo_loss(10.0, 20.0);
  CHECK(v.loss == doctest::Approx(0.4374879504858856).epsilon(1e-14));
  CHECK(v.grad_h == doctest::Approx(-0.035434369377420456).epsilon(1e-14));
  // R = −100 is clipped to −40: z = 0.1 · (−3 + 8) = 0.5.
  v = dlma::margin_dpo_loss(-3.0, -100.0);
  CHECK(v.loss == doctest::Approx(0.4740769841801067).epsilon(1e-14));
  CHECK(v.grad_h == doctest::Approx(-0.03775406687981454).epsilon(1e-14));
  CHECK(dlma::margin_dpo_loss(-3.0, -40.0).loss == v.loss);
  // Custom parameters: β = 0.5, w = 1, clip [−5, 5]; R = −7 → −5; z = 0.5 · 7.5 = 3.75.
  const dlma::loss_params p{0.5, 1.0, -5.0, 5.0};
  v = dlma::margin_dpo_loss(2.5, -7.0, p);
  CHECK(v.loss == doctest::Approx(0.02324546437242503).epsilon(1e-13));
  CHECK(v.grad_h == doctest::Approx(-0.011488684955012807).epsilon(1e-13));
  // w = 0 is plain DPO: the margin has no effect.
  const dlma::loss_params plain{0.1, 0.0, -40.0, 40.0};
  CHECK(dlma::margin_dpo_loss(1.0, 30.0, plain).loss == dlma::margin_dpo_loss(1.0, -30.0, plain).loss);
}

TEST_CASE("the margin loss is stable at extreme margins" * doctest::test_suite("dlma")) {
  auto big = dlma::margin_dpo_loss(1e4, 0.0);  // z = 1000
  CHECK(std::isfinite(big.loss));
  CHECK(big.loss >= 0.0);
  CHECK(big.loss < 1e-300);
  CHECK(big.grad_h <= 0.0);
  CHECK(big.grad_h > -1e-300);
  auto small = dlma::margin_dpo_loss(-1e4, 0.0);  // z = −1000: loss = 1000 + log1p(e^−1000)
  CHECK(small.loss == doctest::Approx(1000.0).epsilon(1e-15));
  CHECK(small.grad_h == doctest::Approx(-0.1).epsilon(1e-15));
  CHECK(std::isnan(dlma::margin_dpo_loss(std::nan(""), 0.0).loss));
  CHECK(std::isnan(dlma::clip_margin(std::nan(""), -40, 40)));
}

TEST_CASE("the gradient agrees with central finite differences" * doctest::test_suite("dlma")) {
  const double eps = 1e-5;
  for (double h : {-50.0, -3.0, 0.0, 0.7, 12.0, 80.0}) {
    for (double r : {-60.0, -5.0, 0.0, 3.5, 45.0}) {
      CAPTURE(h);
      CAPTURE(r);
      const double fd = (dlma::margin_dpo_loss(h + eps, r).loss - dlma::margin_dpo_loss(h - eps, r).loss) / (2 * eps);
      CHECK(dlma::margin_dpo_loss(h, r).grad_h == doctest::Approx(fd).epsilon(1e-7));
    }
  }
}

TEST_CASE("the batched loss returns per-example values and the mean" * doctest::test_suite("dlma")) {
  const std::vector<double> h{0.0, 10.0, -3.0};
  const std::vector<double> r{0.0, 20.0, -100.0};
  auto b = dlma::margin_dpo_loss(h, r);
  REQUIRE(b.has_value());
  REQUIRE(b->losses.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(b->losses[i] == dlma::margin_dpo_loss(h[i], r[i]).loss);
    CHECK(b->grad_h[i] == dlma::margin_dpo_loss(h[i], r[i]).grad_h);
  }
  CHECK(b->mean == doctest::Approx((0.6931471805599453 + 0.4374879504858856 + 0.4740769841801067) / 3));
  auto bad = dlma::margin_dpo_loss(h, std::vector<double>{1.0});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == selfalign::errc::invalid_argument);
  CHECK(bad.error().message == "dlma::margin_dpo_loss: 3 policy margins but 1 self-reward scores");
  auto empty = dlma::margin_dpo_loss(std::vector<double>{}, std::vector<double>{});
  REQUIRE(empty.has_value());
  CHECK(std::isnan(empty->mean));
}
