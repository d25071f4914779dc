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
  CHECK(found == 7);
}
