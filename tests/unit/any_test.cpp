#include <doctest/doctest.h>
#include <selfalign/any.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/testing/archetypes.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/testing/scripted_judge.hpp>

#include <memory>
#include <span>
#include <type_traits>
#include <vector>

using namespace selfalign;

TEST_CASE_TEMPLATE_DEFINE("generation is the same through any_generator" * doctest::test_suite("any"), G, any_transparent) {
  selfalign::testing::scripted_generator script;
  script.on("capital of France", {"Paris", "Lyon"});
  script.otherwise("no idea");
  G g(script);
  generation_request r;
  r.prompt = prompt::chat({message::user("What is the capital of France?")});
  r.sampling.n = 2;
  auto out = g.generate(r);
  REQUIRE(out);
  REQUIRE(out->choices.size() == 2);
  CHECK(out->choices[0].text == "Paris");
  CHECK(out->choices[1].text == "Lyon");
  CHECK(out->usage.prompt_tokens == 6);
  CHECK(out->usage.completion_tokens == 2);
  r.prompt = "unrelated";
  CHECK(g.generate(r)->text() == "no idea");
  CHECK(script.call_count() == 2);
}
TEST_CASE_TEMPLATE_INVOKE(any_transparent, selfalign::testing::scripted_generator, any_generator);

TEST_CASE("any_generator reports missing operations as unsupported" * doctest::test_suite("any")) {
  any_generator g = selfalign::testing::scripted_generator{};
  auto s = g.score(scoring_request{});
  REQUIRE_FALSE(s);
  CHECK(s.error().code == errc::unsupported);
  CHECK(s.error().message == "this generator cannot score continuations (it has no score member)");
  auto t = g.tokenize("abc", false);
  REQUIRE_FALSE(t);
  CHECK(t.error().code == errc::unsupported);
  const auto caps = g.capabilities();
  CHECK_FALSE(caps.scoring);
  CHECK_FALSE(caps.tokenize);
  CHECK(caps.chat);
}

TEST_CASE("any_generator forwards scoring, tokenizing and capabilities of what it holds" * doctest::test_suite("any")) {
  struct scoring_tokenizer : selfalign::testing::archetypes::minimal_scoring_generator,
                             selfalign::testing::archetypes::minimal_tokenizer {
    selfalign::capabilities capabilities() const {
      selfalign::capabilities c;
      c.server = "custom";
      c.scoring = true;
      c.token_ids = true;
      return c;
    }
  };
  any_generator g = scoring_tokenizer{};
  CHECK(g.score(scoring_request{}).has_value());
  auto ids = g.tokenize("ab", false);
  REQUIRE(ids);
  CHECK(*ids == std::vector<token_id>{'a', 'b'});
  CHECK(*g.detokenize(*ids) == "ab");
  CHECK(g.capabilities().server == "custom");
  CHECK(g.target<scoring_tokenizer>() != nullptr);
  CHECK(g.target<selfalign::testing::scripted_generator>() == nullptr);

  any_generator moved = std::move(g);
  CHECK(moved.capabilities().token_ids);
  std::vector<scoring_request> reqs(3);
  CHECK(moved.score_batch(reqs).size() == 3);
}

TEST_CASE("any_judge and any_embedder hold their models" * doctest::test_suite("any")) {
  selfalign::testing::scripted_judge sj(1.0);
  sj.on("good", 4.0);
  any_judge j = sj;
  judge_request r;
  r.response = "good stuff";
  CHECK(*j.judge(r)->score == 4.0);
  std::vector<judge_request> batch(2, r);
  auto out = j.judge_batch(batch);
  CHECK(*out[1]->score == 4.0);

  any_embedder e = hashed_ngram_embedder(64);
  embedding_request er;
  er.texts = {"a", "b"};
  auto vs = e.embed(er);
  REQUIRE(vs);
  CHECK(vs->vectors.size() == 2);
  CHECK(vs->vectors[0].size() == 64);
  static_assert(Judge<any_judge> && Embedder<any_embedder>);
  static_assert(!std::is_copy_constructible_v<any_generator>);
}

namespace {
// An embedder with its own batch path, which counts how it was called.
struct batching_embedder {
  std::shared_ptr<int> singles = std::make_shared<int>(0);
  std::shared_ptr<int> batches = std::make_shared<int>(0);
  result<embeddings> embed(const embedding_request& r) {
    ++*singles;
    embeddings e;
    e.vectors.assign(r.texts.size(), std::vector<float>{1.0f});
    return e;
  }
  std::vector<result<embeddings>> embed_batch(std::span<const embedding_request> rs, const batch_options&) {
    ++*batches;
    std::vector<result<embeddings>> out;
    for (const auto& r : rs) {
      embeddings e;
      e.vectors.assign(r.texts.size(), std::vector<float>{2.0f});
      out.emplace_back(std::move(e));
    }
    return out;
  }
};
}  // namespace

TEST_CASE("the three erasers are symmetric: move-only, target<T>(), batches through the held model's own path" * doctest::test_suite("any")) {
  static_assert(!std::is_copy_constructible_v<any_judge> && !std::is_copy_constructible_v<any_embedder>);
  static_assert(std::is_nothrow_move_constructible_v<any_judge> && std::is_nothrow_move_constructible_v<any_embedder>);
  static_assert(PreparableJudge<any_judge>);

  any_generator g = selfalign::testing::scripted_generator{};
  CHECK(g.target<selfalign::testing::scripted_generator>() != nullptr);
  CHECK(g.target<hashed_ngram_embedder>() == nullptr);

  any_judge j = selfalign::testing::scripted_judge(2.0);
  REQUIRE(j.target<selfalign::testing::scripted_judge>() != nullptr);
  CHECK(j.target<testing::archetypes::minimal_judge>() == nullptr);

  batching_embedder inner;
  any_embedder e = inner;
  REQUIRE(e.target<batching_embedder>() != nullptr);
  CHECK(e.target<hashed_ngram_embedder>() == nullptr);
  std::vector<embedding_request> reqs(3);
  for (auto& r : reqs) r.texts = {"x", "y"};
  auto out = e.embed_batch(reqs);
  REQUIRE(out.size() == 3);
  CHECK(out[2]->vectors.at(1).at(0) == 2.0f);  // the held embedder's batch answered
  CHECK(*inner.batches == 1);
  CHECK(*inner.singles == 0);
  CHECK(e.capabilities().embeddings);  // what the held embedder says of itself
  CHECK(e.embed(reqs[0])->vectors.at(0).at(0) == 1.0f);
  CHECK(*inner.singles == 1);
}
