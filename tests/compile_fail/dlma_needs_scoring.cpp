// dlma::build_pairs needs a ScoringGenerator: a plain Generator (no score member) is rejected at
// compile time, and the diagnostic names the concept.
// expect: ScoringGenerator
#include <selfalign/dlma/build_pairs.hpp>
#include <selfalign/testing/archetypes.hpp>

#include <string>
#include <vector>

int main() {
  selfalign::testing::archetypes::minimal_generator g;
  auto r = selfalign::dlma::build_pairs(g, std::vector<std::string>{"q"}, selfalign::dlma::config{});
  return r.has_value() ? 0 : 1;
}
