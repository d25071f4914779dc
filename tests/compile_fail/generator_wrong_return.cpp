// generate() must return something convertible to result<generation>; an int is rejected and
// the diagnostic names the convertibility requirement.
// expect: (return-type-requirement|convertible_to<int)
#include <selfalign/concepts.hpp>

struct returns_int {
  int generate(const selfalign::generation_request&) { return 0; }
};
static_assert(selfalign::Generator<returns_int>);
int main() {}
