// The layers of include/selfalign, read from the #include lines of every header: folders form no
// cycle, and no folder reaches into another folder's detail/ (selfalign/detail/, the library-wide
// internals, is shared). The umbrella headers (selfalign.hpp, core.hpp, src.hpp) sit on top and are left out.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;

namespace {

// The folder a header belongs to: "rain" for rain/decode.hpp and rain/detail/formulas.hpp, "." for
// the core headers at the top (types.hpp, result.hpp, detail/strings.hpp, ...).
std::string folder_of(const std::string& rel) {
  const auto slash = rel.find('/');
  if (slash == std::string::npos) return ".";
  const std::string first = rel.substr(0, slash);
  return first == "detail" ? "." : first;
}

// The detail/ folder a header lives in ("rain/detail/"), or "" when it is not in one.
std::string detail_dir_of(const std::string& rel) {
  const auto pos = rel.find("detail/");
  if (pos == std::string::npos) return {};
  return rel.substr(0, pos + 7);
}

struct include_graph {
  std::map<std::string, std::set<std::string>> folder_edges;           // folder -> folders it includes
  std::map<std::pair<std::string, std::string>, std::string> example;  // an include behind each edge
  std::vector<std::string> detail_reaches;                             // "from -> to" lines
  std::size_t headers = 0;
};

include_graph read_graph(const fs::path& root) {
  include_graph g;
  const std::regex include_line(R"(^\s*#\s*include\s*<selfalign/([^>]+)>)");
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".hpp") continue;
    const std::string rel = fs::relative(entry.path(), root).generic_string();
    if (rel == "selfalign.hpp" || rel == "core.hpp" || rel == "src.hpp") continue;  // umbrellas (src.hpp: of the .ipp files)
    ++g.headers;
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      std::smatch m;
      if (!std::regex_search(line, m, include_line)) continue;
      const std::string target = m[1].str();
      const std::string from = folder_of(rel), to = folder_of(target);
      if (from != to) {
        g.folder_edges[from].insert(to);
        g.example.emplace(std::pair{from, to}, rel + " includes " + target);
      }
      const std::string dd = detail_dir_of(target);
      if (!dd.empty() && dd != "detail/" && dd != detail_dir_of(rel) && folder_of(rel) != folder_of(target))
        g.detail_reaches.push_back(rel + " -> " + target);
    }
  }
  return g;
}

// One cycle among the folders, as "a -> b -> a", or "" when there is none.
std::string find_cycle(const include_graph& g) {
  std::map<std::string, int> state;  // 0 new, 1 on the stack, 2 done
  std::vector<std::string> stack;
  std::string cycle;
  std::function<bool(const std::string&)> visit = [&](const std::string& f) {
    state[f] = 1;
    stack.push_back(f);
    const auto it = g.folder_edges.find(f);
    if (it != g.folder_edges.end())
      for (const auto& t : it->second) {
        if (state[t] == 1) {
          auto at = std::find(stack.begin(), stack.end(), t);
          for (; at != stack.end(); ++at) cycle += *at + " -> ";
          cycle += t + " (" + g.example.at({f, t}) + ")";
          return true;
        }
        if (state[t] == 0 && visit(t)) return true;
      }
    stack.pop_back();
    state[f] = 2;
    return false;
  };
  for (const auto& [f, _] : g.folder_edges)
    if (state[f] == 0 && visit(f)) return cycle;
  return {};
}

}  // namespace

TEST_CASE("include/selfalign: the folders form no include cycle and none reaches into another's detail/" * doctest::test_suite("static")) {
  const auto g = read_graph(fs::path(SELFALIGN_SOURCE_DIR) / "include" / "selfalign");
  CHECK(g.headers > 50);  // the walk found the headers
  CHECK(g.folder_edges.size() > 5);
  const std::string cycle = find_cycle(g);
  INFO("cycle: " << cycle);
  CHECK(cycle.empty());
  std::string reaches;
  for (const auto& r : g.detail_reaches) reaches += r + "\n";
  INFO("reaches into another folder's detail/:\n" << reaches);
  CHECK(g.detail_reaches.empty());
}

TEST_CASE("the include-graph check finds a cycle and a detail/ reach when there is one" * doctest::test_suite("static")) {
  const fs::path root = fs::temp_directory_path() / ("selfalign-include-graph-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "a" / "detail");
  fs::create_directories(root / "b");
  std::ofstream(root / "a" / "x.hpp") << "#include <selfalign/b/y.hpp>\n";
  std::ofstream(root / "a" / "detail" / "z.hpp") << "#pragma once\n";
  std::ofstream(root / "b" / "y.hpp") << "#include <selfalign/a/detail/z.hpp>\n";
  const auto g = read_graph(root);
  CHECK(find_cycle(g) == "a -> b -> a (b/y.hpp includes a/detail/z.hpp)");
  REQUIRE(g.detail_reaches.size() == 1);
  CHECK(g.detail_reaches[0] == "b/y.hpp -> a/detail/z.hpp");
  fs::remove_all(root);
}
