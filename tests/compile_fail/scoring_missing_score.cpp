// A Generator without score() is not a ScoringGenerator; the diagnostic names g.score(s).
// expect: g\.score\(s\)
#include <selfalign/concepts.hpp>
#include <selfalign/testing/archetypes.hpp>

static_assert(selfalign::ScoringGenerator<selfalign::testing::archetypes::minimal_generator>);
int main() {}
