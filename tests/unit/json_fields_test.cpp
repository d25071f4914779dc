// Field tables (detail/json_fields.hpp): one entry per field drives both to_json and from_json,
// with the library's wire rules (null = absent, absent keeps the default, wrong type = error).
#include <doctest/doctest.h>

#include <selfalign/detail/json_fields.hpp>
#include <selfalign/json.hpp>
#include <selfalign/run_status.hpp>
#include <selfalign/usage.hpp>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

using namespace selfalign;

namespace {

enum class fields_colour { red, green };
[[nodiscard]] constexpr std::string_view to_string(fields_colour c) noexcept { return c == fields_colour::red ? "red" : "green"; }

struct fields_probe {
  std::string name = "unnamed";
  int count = 3;
  std::optional<double> score;
  std::optional<int> hint;  // left out while empty
  bool flag = false;        // left out while false
  std::vector<int> items;
  double mean = std::numeric_limits<double>::quiet_NaN();
  int extra = 0;  // written only when count > 10
};

[[nodiscard]] constexpr bool fields_probe_big(const fields_probe& p) noexcept { return p.count > 10; }

constexpr auto fields_probe_table = json_fields(
    detail::json_field("name", &fields_probe::name),
    detail::json_field("count", &fields_probe::count).also_read("n"),
    detail::json_field("score", &fields_probe::score),
    detail::json_field("hint", &fields_probe::hint).omit_when_default(),
    detail::json_field("flag", &fields_probe::flag).omit_when_default(),
    detail::json_field("items", &fields_probe::items),
    detail::json_field("mean", &fields_probe::mean).null_unless_finite(),
    detail::json_field("extra", &fields_probe::extra).written_if(fields_probe_big));

nlohmann::json fields_write(const fields_probe& p) {
  nlohmann::json j;
  detail::write_json_fields(j, p, fields_probe_table);
  return j;
}

fields_probe fields_read(const nlohmann::json& j) {
  fields_probe p;
  detail::read_json_fields(j, p, fields_probe_table);
  return p;
}

std::string fields_read_error(const nlohmann::json& j) {
  try {
    (void)fields_read(j);
  } catch (const nlohmann::json::exception& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("json fields: one table entry writes and reads each field" * doctest::test_suite("json")) {
  fields_probe p;
  p.name = "probe";
  p.count = 12;
  p.score = 0.5;
  p.hint = 4;
  p.flag = true;
  p.items = {1, 2};
  p.mean = 1.25;
  p.extra = 9;
  const nlohmann::json j = fields_write(p);
  CHECK(j.dump() == R"({"count":12,"extra":9,"flag":true,"hint":4,"items":[1,2],"mean":1.25,"name":"probe","score":0.5})");
  const fields_probe back = fields_read(j);
  CHECK(back.name == "probe");
  CHECK(back.count == 12);
  CHECK(back.score == 0.5);
  CHECK(back.hint == 4);
  CHECK(back.flag);
  CHECK(back.items == std::vector<int>{1, 2});
  CHECK(back.mean == 1.25);
  CHECK(back.extra == 9);
  CHECK(fields_write(back) == j);
}

TEST_CASE("json fields: defaults, omitted keys, non-finite numbers and conditional fields" * doctest::test_suite("json")) {
  const fields_probe p;  // empty optionals, false, NaN, count 3 (no "extra")
  const nlohmann::json j = fields_write(p);
  CHECK(j.dump() == R"({"count":3,"items":[],"mean":null,"name":"unnamed","score":null})");
  const fields_probe back = fields_read(j);
  CHECK_FALSE(back.score.has_value());
  CHECK_FALSE(back.hint.has_value());
  CHECK(std::isnan(back.mean));  // null keeps the default NaN
  CHECK(fields_write(back) == j);
  fields_probe inf;
  inf.mean = std::numeric_limits<double>::infinity();
  CHECK(fields_write(inf).at("mean").is_null());
}

TEST_CASE("json fields: null means absent, absent keeps the default, unknown keys are ignored" * doctest::test_suite("json")) {
  const auto p = fields_read(nlohmann::json{{"name", nullptr}, {"count", nullptr}, {"score", nullptr}, {"unknown", 1}});
  CHECK(p.name == "unnamed");
  CHECK(p.count == 3);
  CHECK_FALSE(p.score.has_value());
  CHECK(fields_read(nlohmann::json::object()).count == 3);
  // Not an object: no keys at all, as the hand-written readers did.
  CHECK(fields_read(nlohmann::json(5)).name == "unnamed");
  // A reader fills in only what the JSON holds: the rest of the object stays as it was.
  fields_probe q;
  q.name = "kept";
  detail::read_json_fields(nlohmann::json{{"count", 7}}, q, fields_probe_table);
  CHECK(q.name == "kept");
  CHECK(q.count == 7);
}

TEST_CASE("json fields: a renamed key is read under its old name too" * doctest::test_suite("json")) {
  CHECK(fields_read(nlohmann::json{{"n", 8}}).count == 8);
  CHECK(fields_read(nlohmann::json{{"n", 8}, {"count", 9}}).count == 9);       // the new key wins
  CHECK(fields_read(nlohmann::json{{"n", 8}, {"count", nullptr}}).count == 8);  // null: absent
  CHECK_FALSE(fields_write(fields_read(nlohmann::json{{"n", 8}})).contains("n"));  // written under the new key only
}

TEST_CASE("json fields: a value of the wrong type is nlohmann's type error, unchanged" * doctest::test_suite("json")) {
  CHECK(fields_read_error(nlohmann::json{{"name", 5}}) == "[json.exception.type_error.302] type must be string, but is number");
  CHECK(fields_read_error(nlohmann::json{{"count", "many"}}) == "[json.exception.type_error.302] type must be number, but is string");
  CHECK(fields_read_error(nlohmann::json{{"score", true}}) == "[json.exception.type_error.302] type must be number, but is boolean");
  CHECK(fields_read_error(nlohmann::json{{"items", {{"a", 1}}}}) == "[json.exception.type_error.302] type must be array, but is object");
  // Through parse_json_as: errc::bad_response, the source named first.
  auto bad = parse_json_as<usage_totals>(R"({"calls": "3"})", "usage");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::bad_response);
  CHECK(bad.error().message == "usage: [json.exception.type_error.302] type must be number, but is string");
}

TEST_CASE("json fields: an enum read by name names the value it does not know" * doctest::test_suite("json")) {
  fields_colour c = fields_colour::red;
  detail::read_enum_name(nlohmann::json("green"), c, {fields_colour::red, fields_colour::green}, "colour");
  CHECK(c == fields_colour::green);
  std::string what;
  try {
    detail::read_enum_name(nlohmann::json("blue"), c, {fields_colour::red, fields_colour::green}, "colour");
  } catch (const nlohmann::json::exception& e) {
    what = e.what();
  }
  CHECK(what == "[json.exception.other_error.501] unknown colour \"blue\"");
  try {
    detail::read_enum_name(nlohmann::json(1), c, {fields_colour::red, fields_colour::green}, "colour");
  } catch (const nlohmann::json::exception& e) {
    what = e.what();
  }
  CHECK(what == "[json.exception.type_error.302] type must be string, but is number");
}

TEST_CASE("json fields: the converted vocabulary writes what it wrote by hand" * doctest::test_suite("json")) {
  usage_totals t;
  t.calls = 2;
  t.cost = 0.5;
  CHECK(nlohmann::json(t).dump() == R"({"cache_hits":0,"calls":2,"completion_tokens":0,"cost_usd":0.5,"failed":0,"prompt_tokens":0})");
  CHECK(nlohmann::json(run_status{}).dump() == R"({"complete":false,"error":null,"stop_reason":"not run"})");
  top_logprob tl{"a", std::nullopt, -0.5};
  CHECK(nlohmann::json(tl).dump() == R"({"logprob":-0.5,"token":"a"})");
  tl.id = 7;
  CHECK(nlohmann::json(tl).dump() == R"({"id":7,"logprob":-0.5,"token":"a"})");
  sampling s;
  CHECK_FALSE(nlohmann::json(s).contains("return_token_ids"));
  CHECK(nlohmann::json(s).at("seed").is_null());
  CHECK_FALSE(nlohmann::json(s).contains("logit_bias"));
  judgement g;
  CHECK_FALSE(nlohmann::json(g).contains("response_chars_omitted"));
  CHECK(nlohmann::json(g).at("score").is_null());
  capabilities caps;
  CHECK_FALSE(nlohmann::json(caps).contains("default_model"));
  caps.default_model = "m";
  CHECK(nlohmann::json(caps).at("default_model") == "m");
  // Reading: a mistyped field inside a nested vocabulary type is the same type error.
  auto bad = parse_json_as<generation>(R"({"choices": [{"text": 5}]})", "response body");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "response body: [json.exception.type_error.302] type must be string, but is number");
}
