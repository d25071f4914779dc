#include <doctest/doctest.h>
#include <selfalign/core.hpp>
#include <selfalign/testing/scripted_generator.hpp>

TEST_CASE("smoke: scripted generator through any_generator" * doctest::test_suite("core")) {
  selfalign::testing::scripted_generator g;
  g.on("hello", {"world"});
  selfalign::any_generator any(g);
  selfalign::generation_request r;
  r.prompt = "hello there";
  CHECK(any.generate(r)->text() == "world");
}
