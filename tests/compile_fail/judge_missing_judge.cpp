// A generator is not a Judge: the diagnostic names j.judge(req).
// expect: j\.judge\(req\)
#include <selfalign/concepts.hpp>
#include <selfalign/testing/archetypes.hpp>

static_assert(selfalign::Judge<selfalign::testing::archetypes::minimal_generator>);
int main() {}
