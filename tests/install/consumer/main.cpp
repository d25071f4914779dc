// A program outside the selfalign tree: a user's adapter, checked by the concept and run
// through any_generator and generate_batch.
#include <selfalign/core.hpp>

#include <cstdio>

struct upper_model {
  selfalign::result<selfalign::generation> generate(const selfalign::generation_request& r) {
    selfalign::generation g;
    std::string t = r.prompt.flatten();
    for (char& c : t) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    g.choices.push_back({t, {}, {}, "stop"});
    return g;
  }
};
static_assert(selfalign::Generator<upper_model>);

int main() {
  selfalign::any_generator g = upper_model{};
  std::vector<selfalign::generation_request> reqs(2);
  reqs[0].prompt = "abc";
  reqs[1].prompt = "xyz";
  auto out = selfalign::generate_batch(g, reqs);
  if (out.size() != 2 || out[0]->text() != "ABC" || out[1]->text() != "XYZ") return 1;
  std::printf("consumer ok, selfalign %s\n", selfalign::version_string);
  return 0;
}
