// any_generator only holds Generators: constructing one from a Judge fails at the constructor's
// constraint, naming Generator.
// expect: g\.generate\(req\)
#include <selfalign/any.hpp>
#include <selfalign/testing/archetypes.hpp>

int main() {
  selfalign::any_generator g{selfalign::testing::archetypes::minimal_judge{}};
  (void)g;
}
