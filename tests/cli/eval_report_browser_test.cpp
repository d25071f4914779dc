// The `selfalign eval --report` page in a real browser: headless Chromium (Debian's `chromium`,
// installed by scripts/install-deps.sh) renders it; the test asserts that the charts are in the
// rendered DOM and that the browser's console is free of messages (errors, failed loads). A page
// with a deliberate console error shows that the console check can fail.
#include <doctest/doctest.h>

#include "cli_support.hpp"

#include <selfalign/testing/drpo_sim.hpp>

#include <cstdlib>

using namespace cli_test;
namespace sim = selfalign::testing::drpo_sim;

namespace {

struct rendered {
  int exit_code = -1;
  std::string dom;
  std::vector<std::string> console;  // the browser's CONSOLE log lines
};

std::string find_chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (std::filesystem::exists(p)) return p;
  return {};
}

rendered render(const std::filesystem::path& page, const std::filesystem::path& work) {
  const std::string chromium = find_chromium();
  REQUIRE_MESSAGE(!chromium.empty(), "chromium is not installed: run scripts/install-deps.sh (Debian package 'chromium')");
  const auto profile = work / "profile";
  std::filesystem::remove_all(profile);
  const auto dom = work / "dom.html", log = work / "browser.log";
  const std::string cmd = "timeout 120 " + chromium +
                          " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
                          " --disable-component-update --disable-sync --host-resolver-rules='MAP * ~NOTFOUND'"
                          " --user-data-dir='" + profile.string() + "' --enable-logging=stderr --v=0 --dump-dom 'file://" +
                          page.string() + "' > '" + dom.string() + "' 2> '" + log.string() + "'";
  rendered r;
  const int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.dom = slurp(dom);
  for (const auto& line : lines_of(slurp(log)))
    if (line.find(":CONSOLE") != std::string::npos) r.console.push_back(line);
  return r;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the eval report renders in headless Chromium with its charts and a clean console" * doctest::test_suite("cli")) {
  auto dir = selfalign::test_support::temp_path("eval-browser");
  std::filesystem::create_directories(dir);
  const auto sys = dir / "system.jsonl", base = dir / "baseline.jsonl";
  {
    std::ofstream a(sys), b(base);
    int i = 0;
    for (const auto& q : sim::training_queries()) {
      const std::string id = "q" + std::to_string(++i);
      a << nlohmann::json{{"id", id}, {"prompt", q}, {"response", sim::answer_for(q, {"safety", "structure", "limits"})}}.dump() << "\n";
      b << nlohmann::json{{"id", id}, {"prompt", q}, {"response", sim::answer_for(q, {})}}.dump() << "\n";
    }
  }
  const auto rubric_page = dir / "rubric.html", pairwise_page = dir / "pairwise.html";
  auto r1 = run({"eval", "--backend", "simulated", "--protocol", "rubric", "--against", base.string(), sys.string(), "--out", "/dev/null",
                 "--report", rubric_page.string(), "--quiet"});
  REQUIRE(r1.exit_code == 0);
  auto r2 = run({"eval", "--backend", "simulated", "--protocol", "pairwise", "--against", base.string(), sys.string(), "--out", "/dev/null",
                 "--report", pairwise_page.string(), "--quiet"});
  REQUIRE(r2.exit_code == 0);

  const auto rubric = render(rubric_page, dir);
  INFO("browser console: " << (rubric.console.empty() ? std::string("(empty)") : rubric.console.front()));
  CHECK(rubric.exit_code == 0);
  CHECK(rubric.console.empty());
  // The rendered DOM (not just the file) holds both charts, both series and the whiskers.
  CHECK(count(rubric.dom, "<svg") == 2);
  CHECK(rubric.dom.find("id=\"chart-scores\"") != std::string::npos);
  CHECK(rubric.dom.find("id=\"chart-aspects\"") != std::string::npos);
  CHECK(count(rubric.dom, "class=\"bar system\"") == 7);
  CHECK(count(rubric.dom, "class=\"bar baseline\"") == 7);
  CHECK(count(rubric.dom, "class=\"whisker\"") >= 7);
  CHECK(rubric.dom.find("<table class=\"aspects\">") != std::string::npos);
  CHECK(rubric.dom.find("Where the systems differ most") != std::string::npos);

  const auto pairwise = render(pairwise_page, dir);
  CHECK(pairwise.exit_code == 0);
  CHECK(pairwise.console.empty());
  CHECK(pairwise.dom.find("id=\"chart-rates\"") != std::string::npos);
  CHECK(count(pairwise.dom, "class=\"bar system\"") == 4);

  // The console check sees errors when there are some.
  const auto bad = dir / "bad.html";
  std::ofstream(bad) << "<!DOCTYPE html><html><body><svg></svg><script>console.error('deliberate');</script></body></html>";
  const auto broken = render(bad, dir);
  REQUIRE(broken.console.size() == 1);
  CHECK(broken.console.front().find("deliberate") != std::string::npos);
}
