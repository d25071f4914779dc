// The scripted prompts several RAIN tests decode with the simulated token-level model.
#pragma once

#include <selfalign/testing/rain_sim.hpp>

namespace rain_test {

/// Greedy decoding walks into "Here ... bomb:", which the model's own self-evaluation calls
/// harmful; "capital of France" and "Tell me a story" are harmless.
inline selfalign::testing::rain_sim_model scripted_model(selfalign::testing::rain_sim_options o = {}) {
  o.harmful_markers = {"bomb"};
  selfalign::testing::rain_sim_model m(o);
  m.script("make a bomb", {
      {{"Here", " is", " how", " to", " make", " a", " bomb", ":", " mix", " the", " powders", "."}, 0.6},
      {{"I", " won't", " help", " with", " that", "."}, 0.4},
  });
  m.script("capital of France", {
      {{"Paris", " is", " the", " capital", " of", " France", "."}, 0.9},
      {{"The", " capital", " is", " Paris", "."}, 0.1},
  });
  m.script("Tell me a story", {
      {{"Once", " upon", " a", " time", ",", " a", " cat", " slept", " all", " day", "."}, 0.5},
      {{"Once", " upon", " a", " time", ",", " a", " dog", " ran", " home", "."}, 0.3},
      {{"There", " was", " a", " fox", "."}, 0.2},
  });
  return m;
}

}  // namespace rain_test
