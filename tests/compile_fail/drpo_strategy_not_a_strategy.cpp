// drpo::optimize checks each of its five roles, and the search strategy, in a static_assert that
// names the role (base and optimizer are both Generators, so a concept name alone would not say
// which one is wrong): a type without search(problem) is rejected with the strategy named.
// expect: the strategy must be a selfalign::SearchStrategy
#include <selfalign/drpo/optimize.hpp>
#include <selfalign/testing/archetypes.hpp>

namespace arch = selfalign::testing::archetypes;

struct not_a_strategy {};

int main() {
  arch::minimal_generator base, optimizer;
  arch::minimal_aspect_selector selector;
  arch::minimal_judge judge;
  arch::minimal_embedder embedder;
  auto roles = selfalign::drpo::make_roles(base, selector, judge, optimizer, embedder);
  selfalign::drpo::dataset data;
  data.queries = {"q"};
  auto r = selfalign::drpo::optimize(roles, data, selfalign::drpo::config{}, not_a_strategy{});
  return r.has_value() ? 0 : 1;
}
