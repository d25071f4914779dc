// A program outside the selfalign tree that links selfalign::sqlite: an SQLite cache file opened
// through cache_store::open, written by one wrapper and replayed by another.
#include <selfalign/core.hpp>

#include <cstdio>
#include <filesystem>

struct echo_model {
  int calls = 0;
  selfalign::result<selfalign::generation> generate(const selfalign::generation_request& r) {
    ++calls;
    selfalign::generation g;
    g.choices.push_back({r.prompt.flatten(), {}, {}, "stop"});
    return g;
  }
};

int main(int argc, char** argv) {
  const std::filesystem::path db = std::filesystem::path(argc > 1 ? argv[1] : ".") / "consumer-cache.sqlite";
  std::filesystem::remove(db);
  selfalign::generation_request r;
  r.prompt = "hello";
  {
    auto store = selfalign::cache_store::open(db);
    if (!store || (*store)->kind() != "sqlite") return 1;
    selfalign::cached g(echo_model{}, *store);
    if (!g.generate(r)) return 2;
  }
  auto store = selfalign::cache_store::open(db);
  if (!store) return 3;
  selfalign::cached g(echo_model{}, *store);
  auto again = g.generate(r);
  if (!again || !again->usage.from_cache || g.inner().calls != 0) return 4;
  std::printf("consumer (sqlite) ok\n");
  return 0;
}
