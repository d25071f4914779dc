#include <doctest/doctest.h>
#include <selfalign/detail/lenient_json.hpp>

using selfalign::detail::lenient_number;
using selfalign::detail::parse_lenient_json;

TEST_CASE("lenient json reads strict json without marking a repair" * doctest::test_suite("drpo")) {
  auto r = parse_lenient_json(R"({"a": {"score": 4}})");
  REQUIRE(r);
  CHECK_FALSE(r->repaired);
  CHECK(r->value["a"]["score"] == 4);
}

TEST_CASE("lenient json strips a code fence with a language tag" * doctest::test_suite("drpo")) {
  auto r = parse_lenient_json("```json\n{\"x\": 1}\n```");
  REQUIRE(r);
  CHECK(r->repaired);
  CHECK(r->value["x"] == 1);
  CHECK(r->repairs == std::vector<std::string>{"code fence"});
}

TEST_CASE("lenient json finds the object inside surrounding prose" * doctest::test_suite("drpo")) {
  auto r = parse_lenient_json("Sure! Here is the evaluation: {\"x\": \"a } b\", \"y\": [1, 2]} Let me know.");
  REQUIRE(r);
  CHECK(r->value["x"] == "a } b");
  CHECK(r->value["y"].size() == 2);
  CHECK(r->repairs == std::vector<std::string>{"surrounding prose"});
}

TEST_CASE("lenient json drops trailing commas and escapes raw newlines in strings" * doctest::test_suite("drpo")) {
  auto r = parse_lenient_json("{\"a\": [1, 2,], \"b\": \"line one\nline two\",\n}");
  REQUIRE(r);
  CHECK(r->value["a"] == nlohmann::json::array({1, 2}));
  CHECK(r->value["b"] == "line one\nline two");
  CHECK(r->repaired);
}

TEST_CASE("lenient json handles fence, prose and trailing comma together" * doctest::test_suite("drpo")) {
  auto r = parse_lenient_json("My verdict:\n```\n{\"Safety\": {\"rationale\": \"ok\", \"score\": \"5\",},}\n```\nThanks");
  REQUIRE(r);
  CHECK(r->value["Safety"]["score"] == "5");
}

TEST_CASE("lenient json reports text without an object as a parse failure quoting it" * doctest::test_suite("drpo")) {
  auto r = parse_lenient_json("I would give it a four.");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == selfalign::errc::parse_failure);
  CHECK(r.error().message == "no readable JSON object in the model output: \"I would give it a four.\"");
  auto truncated = parse_lenient_json("{\"a\": {\"score\": 4");
  REQUIRE_FALSE(truncated);
  CHECK(truncated.error().code == selfalign::errc::parse_failure);
}

TEST_CASE("lenient numbers accept scores written as strings and fractions" * doctest::test_suite("drpo")) {
  bool repaired = false;
  CHECK(lenient_number(nlohmann::json(4), repaired) == 4.0);
  CHECK_FALSE(repaired);
  CHECK(lenient_number(nlohmann::json("4"), repaired) == 4.0);
  CHECK(repaired);
  CHECK(lenient_number(nlohmann::json("3/5"), repaired, 5.0) == 3.0);
  CHECK(lenient_number(nlohmann::json("Score: 2"), repaired) == 2.0);
  CHECK(lenient_number(nlohmann::json("4.5"), repaired) == 4.5);
  CHECK(lenient_number(nlohmann::json::array({"5"}), repaired) == 5.0);
  CHECK_FALSE(lenient_number(nlohmann::json("3 or 4"), repaired).has_value());
  CHECK_FALSE(lenient_number(nlohmann::json("good"), repaired).has_value());
  CHECK_FALSE(lenient_number(nlohmann::json(nullptr), repaired).has_value());
}

TEST_CASE("a score with a denominator is read only on the expected scale, never as its numerator" * doctest::test_suite("drpo")) {
  bool repaired = false;
  CHECK(lenient_number(nlohmann::json("4 out of 5"), repaired, 5.0) == 4.0);
  CHECK(lenient_number(nlohmann::json("Score: 4 / 5 (good)"), repaired, 5.0) == 4.0);
  CHECK(lenient_number(nlohmann::json("4.0/5.0"), repaired, 5.0) == 4.0);
  CHECK(lenient_number(nlohmann::json("3 Out Of 5"), repaired, 5.0) == 3.0);
  CHECK_FALSE(lenient_number(nlohmann::json("4/10"), repaired, 5.0).has_value());
  CHECK_FALSE(lenient_number(nlohmann::json("4 out of 10"), repaired, 5.0).has_value());
  CHECK_FALSE(lenient_number(nlohmann::json("8/10"), repaired, 5.0).has_value());
  CHECK_FALSE(lenient_number(nlohmann::json("4/"), repaired, 5.0).has_value());
  // No scale to check against: a fraction is not a score.
  CHECK_FALSE(lenient_number(nlohmann::json("3/5"), repaired).has_value());
  auto why = selfalign::detail::read_lenient_score(nlohmann::json("4/10"), 1.0, 5.0);
  CHECK_FALSE(why.value.has_value());
  CHECK(why.problem == "is written as \"4/10\", a score out of 10, not on the 1..5 scale");
}
