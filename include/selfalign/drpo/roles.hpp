// selfalign: drpo::roles, make_roles and dataset — the models of a DRPO run and what it optimizes on
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/drpo/layout.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/judges/aspect_selector.hpp>

#include <string>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace drpo {

/// The models of a DRPO run, each a separate plug point (they may all be the same backend).
/// Pointers, not owned. `embedder` may be null when E is default-constructible: the run then uses
/// a default-constructed E (make_roles without an embedder: a hashed_ngram_embedder). An Embedder
/// that cannot be default-constructed works as well when it is given; left null, the run fails with
/// errc::invalid_argument before any call.
template <class B, class S, class J, class O, class E = hashed_ngram_embedder>
struct roles {
  B* base = nullptr;       ///< the model being aligned (Generator)
  S* selector = nullptr;   ///< picks the aspects per query (judges::AspectSelector)
  J* judge = nullptr;      ///< scores responses on those aspects (Judge)
  O* optimizer = nullptr;  ///< rewrites system prompts and example answers (Generator)
  E* embedder = nullptr;   ///< retrieves in-context examples (Embedder), optional
};

template <Generator B, judges::AspectSelector S, Judge J, Generator O>
[[nodiscard]] roles<B, S, J, O> make_roles(B& base, S& selector, J& judge, O& optimizer) {
  return {&base, &selector, &judge, &optimizer, nullptr};
}
template <Generator B, judges::AspectSelector S, Judge J, Generator O, Embedder E>
[[nodiscard]] roles<B, S, J, O, E> make_roles(B& base, S& selector, J& judge, O& optimizer, E& embedder) {
  return {&base, &selector, &judge, &optimizer, &embedder};
}

/// What DRPO optimizes on.
struct dataset {
  std::vector<std::string> queries;        ///< stage 2 training queries, in order (the original shuffles with seed 42)
  std::vector<icl_example> examples;       ///< in-context examples used as they are when seed_examples is empty
  std::vector<icl_example> seed_examples;  ///< stage 1 input: when not empty, stage 1 runs and its output is used
};

}  // namespace drpo
SELFALIGN_END_NAMESPACE
