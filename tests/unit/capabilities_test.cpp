#include <doctest/doctest.h>
#include "test_support.hpp"
#include <selfalign/capabilities.hpp>
#include <selfalign/testing/archetypes.hpp>

using namespace selfalign;
using namespace selfalign::test_support;
using namespace selfalign::testing::archetypes;

TEST_CASE("capabilities_of falls back to what the concepts promise" * doctest::test_suite("capabilities")) {
  minimal_generator g;
  auto c = capabilities_of(g);
  CHECK(c.chat);
  CHECK(c.raw_text);
  CHECK_FALSE(c.scoring);
  CHECK_FALSE(c.tokenize);
  CHECK_FALSE(c.embeddings);
  minimal_scoring_generator s;
  CHECK(capabilities_of(s).scoring);
}

TEST_CASE("require_capabilities names every missing capability and the caller" * doctest::test_suite("capabilities")) {
  capabilities have;
  have.server = "ollama";
  have.max_top_logprobs = 5;
  auto r = require_capabilities(have, need_topk_and_scoring(), "dlma::build_pairs");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::unsupported);
  CHECK(r.error().message ==
        "dlma::build_pairs needs top-10 logprobs per token (the backend returns at most 5); continuation scoring, "
        "log p(continuation | prompt) (vLLM and SGLang can; llama.cpp approximately; OpenAI and Ollama cannot), "
        "which the 'ollama' backend does not provide");
  have.scoring = true;
  have.max_top_logprobs = 20;
  CHECK(require_capabilities(have, need_topk_and_scoring(), "x").has_value());
}
