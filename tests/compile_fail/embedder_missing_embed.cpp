// A judge is not an Embedder: the diagnostic names e.embed(req).
// expect: e\.embed\(req\)
#include <selfalign/concepts.hpp>
#include <selfalign/testing/archetypes.hpp>

static_assert(selfalign::Embedder<selfalign::testing::archetypes::minimal_judge>);
int main() {}
