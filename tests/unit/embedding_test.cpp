#include <doctest/doctest.h>
#include <selfalign/embedding.hpp>

using namespace selfalign;

TEST_CASE("hashed_ngram_embedder: identical texts match, related texts beat unrelated ones" * doctest::test_suite("embedding")) {
  hashed_ngram_embedder e;
  const auto a = e.embed_one("How do I bake sourdough bread at home?");
  const auto same = e.embed_one("how do i bake sourdough bread at home?");
  const auto related = e.embed_one("How can I bake bread at home?");
  const auto unrelated = e.embed_one("The stock market fell sharply on Tuesday.");
  CHECK(cosine_similarity(a, same) == doctest::Approx(1.0));
  const double rel = cosine_similarity(a, related);
  const double unrel = cosine_similarity(a, unrelated);
  CHECK(rel > 0.5);
  CHECK(unrel < 0.3);
  CHECK(rel > unrel + 0.3);
  double norm = 0;
  for (float x : a) norm += static_cast<double>(x) * x;
  CHECK(norm == doctest::Approx(1.0));
}

TEST_CASE("cosine_similarity handles empty, zero and mismatched vectors" * doctest::test_suite("embedding")) {
  std::vector<float> z(4, 0.0f), one{1, 0, 0, 0}, other{0, 1, 0, 0}, three{1, 0, 0};
  CHECK(cosine_similarity(z, one) == 0.0);
  CHECK(cosine_similarity(one, three) == 0.0);
  CHECK(cosine_similarity(one, other) == 0.0);
  CHECK(cosine_similarity(one, one) == doctest::Approx(1.0));
  CHECK(cosine_similarity(std::vector<float>{}, std::vector<float>{}) == 0.0);
}
