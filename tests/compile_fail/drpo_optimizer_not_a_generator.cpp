// make_roles constrains its arguments in its template head; drpo::optimize checks roles built by
// hand, naming the role whose model does not model its concept: here the optimizer (a judge where
// a Generator is needed; base and optimizer are both Generators, so the concept alone would not
// say which one is wrong).
// expect: the optimizer must be a selfalign::Generator
#include <selfalign/drpo/optimize.hpp>
#include <selfalign/testing/archetypes.hpp>

namespace arch = selfalign::testing::archetypes;

int main() {
  arch::minimal_generator base;
  arch::minimal_aspect_selector selector;
  arch::minimal_judge judge, wrong_optimizer;
  arch::minimal_embedder embedder;
  selfalign::drpo::roles<arch::minimal_generator, arch::minimal_aspect_selector, arch::minimal_judge, arch::minimal_judge,
                         arch::minimal_embedder>
      roles{&base, &selector, &judge, &wrong_optimizer, &embedder};
  selfalign::drpo::dataset data;
  data.queries = {"q"};
  auto r = selfalign::drpo::optimize(roles, data);
  return r.has_value() ? 0 : 1;
}
