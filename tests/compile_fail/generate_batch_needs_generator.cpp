// generate_batch is constrained on Generator: passing a Judge names the concept.
// expect: g\.generate\(req\)
#include <selfalign/batch.hpp>
#include <selfalign/testing/archetypes.hpp>

int main() {
  selfalign::testing::archetypes::minimal_judge j;
  std::vector<selfalign::generation_request> reqs(1);
  auto r = selfalign::generate_batch(j, reqs);
  (void)r;
}
