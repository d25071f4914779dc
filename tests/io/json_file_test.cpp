// io::read_json_file / parse_json_document: a JSON document from a file, never a throw, errors
// naming the file and line.
#include <doctest/doctest.h>

#include <selfalign/io/json_file.hpp>

#include "test_support.hpp"

#include <fstream>
#include <string>

namespace sa = selfalign;
namespace io = selfalign::io;

TEST_CASE("a JSON document that is not JSON is an error naming the file and line, whatever nlohmann threw" * doctest::test_suite("io")) {
  auto ok = io::parse_json_document("{\"a\": [1, 2.5]}", "t.json");
  REQUIRE(ok);
  CHECK((*ok)["a"][1] == 2.5);

  auto err = [](const std::string& text) {
    auto r = io::parse_json_document(text, "prices.json");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == sa::errc::invalid_argument);
    return r.error().message;
  };
  // out_of_range, not a parse_error: its message has no position, the locator finds the line.
  CHECK(err("{\n  \"gpt\": {\"prompt\": 1,\n  \"completion\": 1e400}\n}") ==
        "prices.json:3: not valid JSON: number overflow parsing '1e400'");
  CHECK(err("{\n\"a\": 1,\n\"b\": }").rfind("prices.json:3: not valid JSON: ", 0) == 0);
  CHECK(err("").rfind("prices.json:1: not valid JSON: ", 0) == 0);
  CHECK(err("{\n\"a\":\n" + std::string(1000, '[') + std::string(1000, ']') + "}") ==
        "prices.json:3: not valid JSON: nested deeper than 256 levels (at byte 263)");
  CHECK(err("{\"a\": 1} trailing").rfind("prices.json:1: not valid JSON: ", 0) == 0);
}

TEST_CASE("read_json_file reads a file and reports one that cannot be opened" * doctest::test_suite("io")) {
  const auto path = sa::test_support::temp_path("json_file_test.json");
  { std::ofstream(path) << "{\"x\": true}\n"; }
  auto r = io::read_json_file(path);
  REQUIRE(r);
  CHECK((*r)["x"] == true);
  { std::ofstream(path) << "[1,\n2,\n3e999]\n"; }
  auto big = io::read_json_file(path);
  REQUIRE_FALSE(big);
  CHECK(big.error().message == path.string() + ":3: not valid JSON: number overflow parsing '3e999'");
  auto missing = io::read_json_file(path.string() + ".missing");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == sa::errc::io);
  CHECK(missing.error().message.rfind("cannot open " + path.string() + ".missing: ", 0) == 0);
}
