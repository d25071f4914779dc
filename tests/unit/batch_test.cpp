#include <doctest/doctest.h>
#include "test_support.hpp"
#include <selfalign/batch.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/testing/scripted_judge.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

using namespace selfalign;
using namespace selfalign::test_support;
using selfalign::testing::scripted_generator;

namespace {
std::vector<generation_request> numbered_requests(int n) {
  std::vector<generation_request> reqs(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) reqs[static_cast<std::size_t>(i)].prompt = "item " + std::to_string(i);
  return reqs;
}
scripted_generator echo_numbers(int n) {
  scripted_generator g;
  for (int i = n - 1; i >= 0; --i) g.on_regex("item " + std::to_string(i) + "$", {"answer " + std::to_string(i)});
  return g;
}
}  // namespace

TEST_CASE("generate_batch returns answers in request order" * doctest::test_suite("batch")) {
  auto g = echo_numbers(40);
  auto reqs = numbered_requests(40);
  auto out = generate_batch(g, reqs, width(8));
  REQUIRE(out.size() == 40);
  for (int i = 0; i < 40; ++i) CHECK(out[static_cast<std::size_t>(i)]->text() == "answer " + std::to_string(i));
  CHECK(g.call_count() == 40);
}

TEST_CASE("generate_batch really runs max_concurrency calls at once" * doctest::test_suite("batch")) {
  auto g = echo_numbers(16);
  g.hold_until_in_flight(8);  // every call waits until 8 are in flight: counted, not timed
  auto out = generate_batch(g, numbered_requests(16), width(8));
  CHECK(g.max_in_flight() == 8);
  for (const auto& r : out) CHECK(r.has_value());

  auto sequential = echo_numbers(5);
  (void)generate_batch(sequential, numbered_requests(5), width(1));
  CHECK(sequential.max_in_flight() == 1);
}

TEST_CASE("per-request errors stay with their request" * doctest::test_suite("batch")) {
  scripted_generator fresh;
  fresh.fail_on("item 2", error(errc::server_error, "boom", 500));
  fresh.otherwise("fine");
  auto out = generate_batch(fresh, numbered_requests(4), width(4));
  CHECK(out[0].has_value());
  CHECK(out[1].has_value());
  REQUIRE_FALSE(out[2].has_value());
  CHECK(out[2].error().http_status == 500);
  CHECK(out[3].has_value());
}

struct throwing_generator {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  result<generation> generate(const generation_request& r) {
    ++*calls;
    if (r.prompt.flatten() == "item 3") throw std::runtime_error("adapter bug");
    return generation{{completion{"ok", {}, {}, "stop"}}, {}, ""};
  }
};

TEST_CASE("an adapter's exception propagates out of the batch and stops new calls" * doctest::test_suite("batch")) {
  throwing_generator g;
  CHECK_THROWS_WITH_AS(generate_batch(g, numbered_requests(100), width(1)), "adapter bug",
                       std::runtime_error);
  CHECK(g.calls->load() == 4);  // items 0..3; nothing after the throw started
  throwing_generator parallel;
  CHECK_THROWS_AS(generate_batch(parallel, numbered_requests(100), width(4)), std::runtime_error);
  CHECK(parallel.calls->load() < 100);
}

TEST_CASE("a cancelled batch answers errc::cancelled for calls not started" * doctest::test_suite("batch")) {
  scripted_generator g;
  g.otherwise("x");
  std::stop_source source;
  source.request_stop();
  auto out = generate_batch(g, numbered_requests(3), cancellable(source));
  for (const auto& r : out) {
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::cancelled);
  }
  CHECK(g.call_count() == 0);
}

struct native_batch_generator {
  int batch_calls = 0;
  result<generation> generate(const generation_request&) { return fail(errc::internal, "single path used"); }
  std::vector<result<generation>> generate_batch(std::span<const generation_request> reqs) {
    ++batch_calls;
    std::vector<result<generation>> out;
    for (const auto& r : reqs) out.push_back(generation{{completion{"native:" + r.prompt.flatten(), {}, {}, "stop"}}, {}, ""});
    return out;
  }
};

TEST_CASE("generate_batch prefers the adapter's own batch member" * doctest::test_suite("batch")) {
  native_batch_generator g;
  auto out = generate_batch(g, numbered_requests(3));
  CHECK(g.batch_calls == 1);
  CHECK(out[2]->text() == "native:item 2");
}

TEST_CASE("judge_batch and score_batch run the single call per request" * doctest::test_suite("batch")) {
  selfalign::testing::scripted_judge j(2.0);
  j.on("great", 5.0);
  std::vector<judge_request> reqs(2);
  reqs[0].response = "a great answer";
  reqs[1].response = "meh";
  auto out = judge_batch(j, reqs);
  CHECK(*out[0]->score == 5.0);
  CHECK(*out[1]->score == 2.0);
}

TEST_CASE("parallel_map keeps index order with more items than workers" * doctest::test_suite("batch")) {
  auto out = parallel_map(1000, 7, [](std::size_t i) { return i * i; });
  REQUIRE(out.size() == 1000);
  for (std::size_t i = 0; i < out.size(); ++i) CHECK(out[i] == i * i);
  CHECK(parallel_map(0, 8, [](std::size_t i) { return i; }).empty());
}
