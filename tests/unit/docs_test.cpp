#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace {
std::string slurp(const std::string& rel) {
  std::ifstream in(std::string(SELFALIGN_SOURCE_DIR) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("docs/concepts.md quotes every archetype exactly as compiled" * doctest::test_suite("docs")) {
  const std::string source = slurp("include/selfalign/testing/archetypes.hpp");
  const std::string doc = slurp("docs/concepts.md");
  REQUIRE_FALSE(source.empty());
  REQUIRE_FALSE(doc.empty());
  const std::regex snippet(R"(//\[(\w+)\n([\s\S]*?)//\])");
  int found = 0;
  for (auto it = std::sregex_iterator(source.begin(), source.end(), snippet); it != std::sregex_iterator(); ++it) {
    ++found;
    const std::string body = (*it)[2].str();
    INFO("archetype " << (*it)[1].str());
    // Quoted as fragments: they use selfalign's names unqualified, as the header does.
    CHECK(doc.find("```cpp fragment\n" + body + "```") != std::string::npos);
  }
  CHECK(found == 9);
}

namespace {
// The text between "//[name\n" and "//]" in a test source.
std::string quoted(const std::string& source, const std::string& name) {
  const std::string open = "//[" + name + "\n";
  const auto a = source.find(open);
  if (a == std::string::npos) return {};
  const auto b = source.find("//]", a + open.size());
  if (b == std::string::npos) return {};
  return source.substr(a + open.size(), b - a - open.size());
}
}  // namespace

TEST_CASE("README.md's adapter is the one tests/unit/adapter_safety_test.cpp gives to RAIN, DRPO and DLMA" * doctest::test_suite("docs")) {
  const std::string body = quoted(slurp("tests/unit/adapter_safety_test.cpp"), "readme_adapter");
  REQUIRE_FALSE(body.empty());
  CHECK(body.find("struct my_llama") != std::string::npos);
  CHECK(slurp("README.md").find("```cpp\n" + body + "```") != std::string::npos);
}

TEST_CASE("docs/adapters.md quotes the adapter and the unit test that tests/unit/adapter_guide_test.cpp runs" * doctest::test_suite("docs")) {
  const std::string source = slurp("tests/unit/adapter_guide_test.cpp");
  const std::string doc = slurp("docs/adapters.md");
  for (const char* name : {"adapters_md_adapter", "adapters_md_test"}) {
    INFO(name);
    const std::string body = quoted(source, name);
    REQUIRE_FALSE(body.empty());
    CHECK(doc.find("```cpp\n" + body + "```") != std::string::npos);
  }
}
