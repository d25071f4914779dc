// A type without generate() is not a Generator; the diagnostic names the missing expression.
// expect: g\.generate\(req\)
#include <selfalign/concepts.hpp>

struct not_a_model {
  int complete(int) { return 0; }
};
static_assert(selfalign::Generator<not_a_model>);
int main() {}
