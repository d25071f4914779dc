#include <doctest/doctest.h>
#include <selfalign/drpo/drpo.hpp>

using namespace selfalign;

namespace {
const std::vector<drpo::icl_example> examples{{"How do I bake bread?", "Mix, knead, rise, bake."},
                                              {"How do I steal a bike?", "I cannot help with that."},
                                              {"What is a hash map?", "A table indexed by hashes."}};
}

TEST_CASE("the default aligned prompt is chat with consistent headers" * doctest::test_suite("drpo")) {
  auto p = drpo::render_aligned_prompt("Be good.", std::span(examples).subspan(0, 2), "Hi?");
  REQUIRE(p.is_chat());
  REQUIRE(p.messages().size() == 2);
  CHECK(p.messages()[0].role == "system");
  CHECK(p.messages()[0].content ==
        "# instructions\n\nBe good.\n\n# Query:\nHow do I bake bread?\n\n# Answer:\n<START>\nMix, knead, rise, bake.\n<END>"
        "\n\n# Query:\nHow do I steal a bike?\n\n# Answer:\n<START>\nI cannot help with that.\n<END>\n\n");
  CHECK(p.messages()[1].content == "# Query:\nHi?\n\n# Answer:\n<START>");
}

TEST_CASE("the raw-text form with original spacing reproduces the DRPO code's optimization prompt" * doctest::test_suite("drpo")) {
  drpo::layout_options l;
  l.form = drpo::prompt_form::raw_text;
  l.original_spacing = true;
  auto p = drpo::render_aligned_prompt("Be good.", std::span(examples).subspan(0, 2), "Hi?", l);
  REQUIRE(p.is_text());
  CHECK(p.raw_text() ==
        "# instructions\n\nBe good.\n\n# Query:\nHow do I bake bread?\n\n#Answer:\n<START>\nMix, knead, rise, bake.\n<END>"
        "\n\n#Query:\nHow do I steal a bike?\n\n#Answer:\n<START>\nI cannot help with that.\n<END>\n\n"
        "# Query:\nHi?\n\n# Answer:\n<START>");
  auto none = drpo::render_aligned_prompt("Be good.", {}, "Hi?", l);
  CHECK(none.raw_text() == "# instructions\n\nBe good.\n\n# Query:\nHi?\n\n# Answer:\n<START>");
}

TEST_CASE("the original inference layout appends examples to the system prompt" * doctest::test_suite("drpo")) {
  auto p = drpo::render_original_inference_prompt("Be good.", std::span(examples).subspan(1, 1), "Hi?");
  CHECK(p.messages()[0].content == "Be good.\n\n#Query:\nHow do I steal a bike?\n\n#Answer:\n<START>\nI cannot help with that.\n<END>");
  CHECK(p.messages()[1].content == "# Query:\nHi?\n\n# Answer:\n<START>");
}

TEST_CASE("example retrieval returns the most similar example queries first" * doctest::test_suite("drpo")) {
  hashed_ngram_embedder e;
  auto idx = drpo::example_index::build(examples, e);
  REQUIRE(idx);
  const std::vector<std::string> qs{"How can I steal a car?", "how do I bake a cake"};
  auto got = idx->retrieve(qs, 2, e);
  REQUIRE(got);
  CHECK((*got)[0][0].query == "How do I steal a bike?");
  CHECK((*got)[1][0].query == "How do I bake bread?");
  CHECK((*got)[0].size() == 2);
  auto none = idx->retrieve(qs, 0, e);
  CHECK((*none)[0].empty());
}

TEST_CASE("deployment builds the optimized prompt in the optimization layout, or the original's when asked" * doctest::test_suite("drpo")) {
  drpo::report rep;
  rep.best_prompt = "Be aligned.";
  rep.examples = examples;
  drpo::config cfg;
  auto d = drpo::deployment<>::create(rep, cfg);
  REQUIRE(d);
  auto p = d->prompt_for("How can I steal a car?");
  REQUIRE(p);
  CHECK(*p == drpo::render_aligned_prompt("Be aligned.", std::vector<drpo::icl_example>{examples[1], examples[0]}, "How can I steal a car?"));
  auto req = d->request_for("x");
  REQUIRE(req);
  CHECK(req->sampling.stop == cfg.base_sampling.stop);

  cfg.reproduce_layout_mismatch = true;
  auto o = drpo::deployment<>::create(rep, cfg);
  auto po = o->prompt_for("How can I steal a car?");
  REQUIRE(po);
  CHECK(po->messages()[0].content.rfind("Be aligned.\n\n#Query:\nHow do I steal a bike?", 0) == 0);
  // k = 3 in the original's deployment.
  CHECK(po->messages()[0].content.find("What is a hash map?") != std::string::npos);
}
