// The two compilation modes stay wired: every impl/*.ipp is included by <selfalign/src.hpp> (else
// separate compilation misses its definitions at link time) and, guarded by SELFALIGN_HEADER_ONLY,
// at the end of the header it belongs to (else header-only users miss them); no .ipp is orphaned.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::string sepcomp_read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("every impl/*.ipp is included by src.hpp and by its header, header-only only" * doctest::test_suite("static")) {
  const fs::path root = fs::path(SELFALIGN_SOURCE_DIR) / "include";
  const std::string src = sepcomp_read_file(root / "selfalign" / "src.hpp");
  std::vector<std::string> ipps;
  for (const auto& entry : fs::recursive_directory_iterator(root / "selfalign"))
    if (entry.is_regular_file() && entry.path().extension() == ".ipp")
      ipps.push_back(fs::relative(entry.path(), root).generic_string());
  CHECK(!ipps.empty());
  for (const auto& ipp : ipps) {
    CAPTURE(ipp);
    const std::string line = "#include <" + ipp + ">";
    CHECK(src.find(line) != std::string::npos);
    // selfalign/x/impl/y.ipp belongs to selfalign/x/y.hpp
    const auto slash = ipp.rfind("/impl/");
    REQUIRE(slash != std::string::npos);
    const std::string header = ipp.substr(0, slash) + "/" + ipp.substr(slash + 6, ipp.size() - slash - 6 - 4) + ".hpp";
    CAPTURE(header);
    REQUIRE(fs::exists(root / header));
    const std::string text = sepcomp_read_file(root / header);
    const auto at = text.find(line);
    REQUIRE(at != std::string::npos);
    const auto guard = text.rfind("#if defined(SELFALIGN_HEADER_ONLY)", at);
    CHECK(guard != std::string::npos);
    CHECK(text.find("#endif", at) != std::string::npos);
  }
}
