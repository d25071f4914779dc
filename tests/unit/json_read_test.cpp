// parse_json: the depth-capped reader of untrusted JSON, and its repairs of what servers send
#include <selfalign/detail/lenient_json.hpp>
#include <selfalign/json.hpp>
#include <selfalign/json_read.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace selfalign;

namespace {
std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }
}  // namespace

TEST_CASE("parse_json refuses nesting deeper than the cap without recursing" * doctest::test_suite("json")) {
  json_read_notes notes;
  json_read_options o;
  auto deep = parse_json(nested_arrays(100000), o, &notes);
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == errc::bad_response);
  CHECK(deep.error().message == "not valid JSON: nested deeper than 256 levels (at byte 257)");
  CHECK(notes.too_deep);

  CHECK(parse_json(nested_arrays(256)).has_value());
  CHECK_FALSE(parse_json(nested_arrays(257)).has_value());
  CHECK(parse_json(nested_arrays(10), 10).has_value());
  CHECK(parse_json(nested_arrays(11), 10).error().message == "not valid JSON: nested deeper than 10 levels (at byte 11)");
  // Brackets inside strings (escaped quotes included) are text, not nesting.
  auto in_string = parse_json(R"({"a":"[[[[\"[[[[", "b":[1]})", 2);
  REQUIRE(in_string);
  CHECK((*in_string)["b"][0] == 1);
  // Objects count as well as arrays.
  std::string objects;
  for (int i = 0; i < 300; ++i) objects += "{\"a\":";
  objects += "1" + std::string(300, '}');
  CHECK(parse_json(objects).error().message == "not valid JSON: nested deeper than 256 levels (at byte 1281)");
}

TEST_CASE("parse_json says whether text is empty, cut off or malformed" * doctest::test_suite("json")) {
  json_read_notes notes;
  CHECK(parse_json("  \n").error().message == "not JSON: the text is empty");
  const std::string cut_text = R"({"choices":[{"text":"hel)";
  auto cut = parse_json(cut_text, {}, &notes);
  REQUIRE_FALSE(cut);
  CHECK(notes.truncated);
  CHECK(cut.error().message == "not valid JSON (truncated?): it ends inside a value after 24 bytes");
  CHECK(cut_text.size() == 24);
  auto cut_number = parse_json(R"({"a":[1,2)", {}, &notes);
  CHECK(notes.truncated);
  CHECK(cut_number.error().message == "not valid JSON (truncated?): it ends inside a value after 9 bytes");
  auto bad = parse_json(R"({"a":1,,})", {}, &notes);
  REQUIRE_FALSE(bad);
  CHECK_FALSE(notes.truncated);
  CHECK(bad.error().message.rfind("not valid JSON at byte 8: syntax error", 0) == 0);
  // A number beyond double's range is an error, never infinity.
  auto huge = parse_json(R"({"score":1e400})");
  REQUIRE_FALSE(huge);
  CHECK(huge.error().message.find("number overflow") != std::string::npos);
}

TEST_CASE("strict parse_json refuses invalid UTF-8 and NaN; the server options repair them" * doctest::test_suite("json")) {
  const std::string invalid = "{\"t\":\"a\xff" "b\xe2\x82\"}";  // a stray byte and a cut 3-byte sequence
  CHECK_FALSE(parse_json(invalid).has_value());
  json_read_notes notes;
  auto fixed = parse_json(invalid, server_json_options(), &notes);
  REQUIRE(fixed);
  CHECK(notes.text_repaired);
  CHECK((*fixed)["t"] == "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");

  // Lone surrogate escapes become U+FFFD; a proper pair is kept.
  auto lone = parse_json(R"({"a":"x\ud800y","b":"\udc00","c":"\ud83d\ude00"})", server_json_options(), &notes);
  REQUIRE(lone);
  CHECK(notes.text_repaired);
  CHECK((*lone)["a"] == "x\xEF\xBF\xBDy");
  CHECK((*lone)["b"] == "\xEF\xBF\xBD");
  CHECK((*lone)["c"] == "\xF0\x9F\x98\x80");
  CHECK_FALSE(parse_json(R"({"a":"x\ud800y"})").has_value());

  // NaN, Infinity and -Infinity (Python's json) read as null; inside strings they stay text.
  auto nonfinite = parse_json(R"({"v":[NaN,-Infinity,Infinity,-1.5],"s":"NaN"})", server_json_options(), &notes);
  REQUIRE(nonfinite);
  CHECK(notes.nonfinite_replaced);
  CHECK_FALSE(notes.text_repaired);
  CHECK((*nonfinite)["v"] == nlohmann::json::parse("[null,null,null,-1.5]"));
  CHECK((*nonfinite)["s"] == "NaN");
  CHECK_FALSE(parse_json(R"([NaN])").has_value());

  // Clean text is read as it is and reported clean.
  auto clean = parse_json(R"({"t":"caf\u00e9 ☕"})", server_json_options(), &notes);
  REQUIRE(clean);
  CHECK_FALSE(notes.text_repaired);
  CHECK_FALSE(notes.nonfinite_replaced);
}

TEST_CASE("judge output nested too deep is a parse failure that says so" * doctest::test_suite("json")) {
  auto r = detail::parse_lenient_json("Here is my verdict: " + nested_arrays(100000));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::parse_failure);
  CHECK(r.error().message == "no readable JSON object in the model output: not valid JSON: nested deeper than 256 levels (at byte 257)");
  auto ok = detail::parse_lenient_json("```json\n{\"score\": 4,}\n```");
  REQUIRE(ok);
  CHECK(ok->value["score"] == 4);
}

TEST_CASE("parse_json_as reports the depth cap with the source's name" * doctest::test_suite("json")) {
  auto r = parse_json_as<usage>(nested_arrays(1000), "usage.json");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "usage.json: not valid JSON: nested deeper than 256 levels (at byte 257)");
}

TEST_CASE("long strings decoded straight from the text read exactly as nlohmann reads them" * doctest::test_suite("json")) {
  // large_string_bytes = 1 sends every string value through the direct decoder; 0 sends none.
  // Whatever the text, both must give the same value, or the same error and notes.
  const std::vector<std::string> texts = {
      R"({"a":"plain","b":["x","y"],"c":{"d":"e"},"n":1,"f":1.5,"t":true,"z":null})",
      R"(["esc \" \\ \/ \b \f \n \r \t end"])",
      R"(["\u00e9\u00E9 \u20ac \ud83d\ude00 \uD834\uDD1E \u0000 \u007f"])",
      "[\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"]",
      R"({"key":"value","key":"last wins"})",
      R"({"long key that is not a value":"v", "k" : "spaced colon"})",
      R"(["lone high \ud800 here"])",
      R"(["lone low \udc00 here"])",
      R"(["high then not low \ud83d\u0041"])",
      "[\"invalid \xFF byte\"]",
      "[\"cut \xE2\x82 sequence\"]",
      "[\"raw control \x01 char\"]",
      R"(["bad escape \x"])",
      R"(["short \u12 escape"])",
      R"(["unterminated)",
      R"(["a" "b"])",
      R"({"a":"b" x})",
      R"(["ok", NaN, "after"])",
      R"("top-level string")",
      R"(["", "", "x"])",
  };
  for (const auto& text : texts) {
    for (const bool server : {false, true}) {
      CAPTURE(text);
      CAPTURE(server);
      json_read_options direct = server ? server_json_options() : json_read_options{};
      json_read_options through = direct;
      direct.large_string_bytes = 1;
      through.large_string_bytes = 0;
      json_read_notes nd, nt;
      auto d = parse_json(text, direct, &nd);
      auto t = parse_json(text, through, &nt);
      REQUIRE(d.has_value() == t.has_value());
      if (d) CHECK(*d == *t);
      else CHECK(d.error().message == t.error().message);
      CHECK(nd.text_repaired == nt.text_repaired);
      CHECK(nd.nonfinite_replaced == nt.nonfinite_replaced);
      CHECK(nd.truncated == nt.truncated);
      CHECK(nd.error_byte == nt.error_byte);
    }
  }
  // The decoder itself: escapes, surrogate pairs, and what it refuses.
  std::string out;
  CHECK(detail::decode_json_string(R"(a\nb\u00e9\ud83d\ude00)", out));
  CHECK(out == "a\nb\xC3\xA9\xF0\x9F\x98\x80");
  CHECK_FALSE(detail::decode_json_string(R"(\ud800)", out));
  CHECK_FALSE(detail::decode_json_string("\x1f", out));
  CHECK_FALSE(detail::decode_json_string("\xC0\xAF", out));  // overlong
  CHECK_FALSE(detail::decode_json_string(R"(\q)", out));
  CHECK_FALSE(detail::decode_json_string("trailing\\", out));
}

TEST_CASE("a long string value is decoded from the text, a long key and a short value are left to nlohmann" * doctest::test_suite("json")) {
  const std::string big(100000, 'q');
  auto large = detail::extract_large_strings(R"({")" + big + R"(":"short","v":")" + big + R"("})", 65536);
  REQUIRE(large.values.size() == 1);
  CHECK(large.values[0] == big);
  CHECK(large.ordinals[0] == 1);  // the second string value ("short" is the first; keys do not count)
  CHECK(large.compact == R"({")" + big + R"(":"short","v":""})");
  auto j = parse_json(R"({")" + big + R"(":"short","v":")" + big + R"("})");
  REQUIRE(j);
  CHECK((*j)[big] == "short");
  CHECK(((*j)["v"] == big));
}

TEST_CASE("a repeated key that replaces the value holding the last long string: read as nlohmann reads it" * doctest::test_suite("json")) {
  // Found by CI's fuzz_json_read: the in-place decode wrote into a string the repeated key had
  // destroyed (heap-use-after-free under ASan). Now the text is read the usual way.
  json_read_options o;
  o.large_string_bytes = 1;
  for (std::string text : {std::string(R"({"a":[1,{"b":"long text"}],"a":2})"), std::string(R"({"a":"long text","a":"other"})"),
                           std::string(R"({"a":{"b":"x"},"c":"long","a":[3]})")}) {
    CAPTURE(text);
    const auto expected = nlohmann::json::parse(text);
    std::string owned = text;
    auto j = detail::parse_json_taking(owned, o);
    REQUIRE(j);
    CHECK(*j == expected);
  }
  // The fuzzer's input: repaired text (NaN read as null) and a repeated key.
  json_read_options r = o;
  r.repair_text = true;
  r.nonfinite_as_null = true;
  std::string owned = R"({".":[1,2,{"b":"2&crit,ria&u0"}],".":NaN})";
  auto j = detail::parse_json_taking(owned, r);
  REQUIRE(j);
  CHECK(j->dump() == R"({".":null})");
}
