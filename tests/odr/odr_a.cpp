// Includes every public header in a second translation unit; with odr_b.cpp and odr_main.cpp
// this proves that the headers can be included in several translation units of one program.
#include <selfalign/core.hpp>
#include <selfalign/testing/archetypes.hpp>
#include <selfalign/testing/dlma_sim.hpp>
#include <selfalign/testing/drpo_sim.hpp>
#include <selfalign/testing/eval_judge_sim.hpp>
#include <selfalign/testing/rain_sim.hpp>
#include <selfalign/testing/fail_after.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/testing/scripted_judge.hpp>
#if SELFALIGN_ODR_WITH_SQLITE
#include <selfalign/cache/sqlite_store.hpp>
#endif
#if SELFALIGN_ODR_WITH_HTTP
#include <selfalign/selfalign.hpp>
#endif

int odr_a() {
  selfalign::testing::scripted_generator g;
  g.otherwise("a");
  selfalign::any_generator any(g);
  selfalign::generation_request r;
  return any.generate(r)->text() == "a" ? 1 : 0;
}
