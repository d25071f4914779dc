#include <doctest/doctest.h>
#include <selfalign/drpo/optimize.hpp>
#include <selfalign/drpo/prompts.hpp>

#include <nlohmann/json.hpp>

#include <cmath>

using namespace selfalign;

TEST_CASE("every default meta-prompt renders with all its placeholders filled" * doctest::test_suite("drpo")) {
  const drpo::prompt_set p;
  for (const auto& set : drpo::prompt_placeholder_sets()) {
    const std::string name = set.first;
    const std::vector<std::string>& placeholders = set.second;
    const std::string& tpl = name == "selection" ? p.selection : name == "judge" ? p.judge : name == "optimize_prompt" ? p.optimize_prompt : p.optimize_answer;
    CAPTURE(name);
    // The template uses exactly the documented placeholders.
    auto used = judges::prompt_placeholders(tpl);
    std::sort(used.begin(), used.end());
    auto documented = placeholders;
    std::sort(documented.begin(), documented.end());
    CHECK(used == documented);
    std::vector<judges::prompt_value> values;
    for (const auto& ph : placeholders) values.emplace_back(ph, "<<" + ph + ">>");
    auto text = judges::render_prompt(tpl, values);
    REQUIRE(text);
    CHECK(text->find("{{") == std::string::npos);
    for (const auto& ph : placeholders) CHECK(text->find("<<" + ph + ">>") != std::string::npos);
  }
}

TEST_CASE("render_prompt names a placeholder without a value and does not expand values" * doctest::test_suite("drpo")) {
  auto r = judges::render_prompt("a {{x}} b {{y}}", {{"x", "1"}}, "judge");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_argument);
  CHECK(r.error().message == "judge template uses {{y}}, which has no value");
  auto ok = judges::render_prompt("{{x}}{{y}}", {{"x", "{{y}}"}, {"y", "2"}});
  CHECK(*ok == "{{y}}2");
}

TEST_CASE("drpo::validate rejects a user prompt with an unknown placeholder before any call" * doctest::test_suite("drpo")) {
  drpo::config cfg;
  cfg.prompts.optimize_prompt = "Improve {{current_prompt}} please";
  auto v = drpo::validate(cfg);
  REQUIRE_FALSE(v);
  CHECK(v.error().message == "drpo::config::prompts.optimize_prompt template uses {{current_prompt}}, which has no value");
  drpo::config zero;
  zero.beam_width = 0;
  CHECK(drpo::validate(zero).error().message == "drpo::config::beam_width must be at least 1");
  CHECK(drpo::validate(drpo::config{}));
}

TEST_CASE("the config defaults are the DRPO code's" * doctest::test_suite("drpo")) {
  const drpo::config c;
  CHECK(c.beam_width == 2);
  CHECK(c.actions_per_expansion == 3);
  CHECK(c.depth == 20);
  CHECK(c.max_depth_increase == 10);
  CHECK(c.skip_threshold == 4.5);
  CHECK(c.history == 5);
  CHECK(c.max_training_queries == 180);
  CHECK(c.initial_system_prompt == "You are a helpful assistant.");
  CHECK(c.optimizer_sampling.temperature == 0.2);
  CHECK(c.optimizer_sampling.top_p == 0.95);
  CHECK(c.optimizer_sampling.max_tokens == 2048);
  CHECK(c.base_sampling.temperature == 0.0);
  CHECK(c.base_sampling.stop == std::vector<std::string>{"<END>", "<END", "<|eot_id|>"});
  CHECK(c.icl_k == 2);
  CHECK(c.icl_rounds == 5);
  CHECK(c.icl_optimizer_sampling.temperature == 0.0);
  CHECK(c.icl_revise_from_latest);
  CHECK(c.min_aspects == 2);
  CHECK(c.max_aspects == 5);
  CHECK(c.icl_min_aspects == 3);
  CHECK(c.icl_max_aspects == 6);
  CHECK(c.max_bullets == 8);
  CHECK(c.max_new_bullets == 2);
}

TEST_CASE("the optimizer sees an evaluation as an ordered JSON dump with an indent of 2, written without ordered_json" * doctest::test_suite("drpo")) {
  // The reference: what nlohmann::ordered_json's dump(2) gives (the optimizer prompts of the
  // original are built that way), aspects in the judge's order, a repeated name in its first place.
  const auto reference = [](const drpo::evaluation& e) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    if (e.verdict.ok())
      for (const auto& c : e.verdict.criteria) {
        nlohmann::ordered_json score = c.score == std::floor(c.score) ? nlohmann::ordered_json(static_cast<long long>(c.score))
                                                                       : nlohmann::ordered_json(c.score);
        j[c.name] = {{"rationale", c.rationale}, {"score", score}};
      }
    return j.dump(2);
  };
  drpo::evaluation e;
  e.verdict.score = 3.5;
  e.verdict.criteria = {{"Safety", 4.0, "It refuses \"politely\".\nSecond line \u00e9"},
                        {"Accuracy", 2.5, ""},
                        {"Clarity", -1.0, "tab\there \\ slash"},
                        {"Safety", 5.0, "a repeated name replaces the first, in its place"}};
  REQUIRE(e.verdict.ok());
  CHECK(drpo::detail::evaluation_text(e) == reference(e));
  CHECK(drpo::detail::evaluation_text(e) ==
        "{\n  \"Safety\": {\n    \"rationale\": \"a repeated name replaces the first, in its place\",\n    \"score\": 5\n  },\n"
        "  \"Accuracy\": {\n    \"rationale\": \"\",\n    \"score\": 2.5\n  },\n"
        "  \"Clarity\": {\n    \"rationale\": \"tab\\there \\\\ slash\",\n    \"score\": -1\n  }\n}");
  e.verdict.criteria.resize(1);
  CHECK(drpo::detail::evaluation_text(e) == reference(e));
  drpo::evaluation unreadable;
  unreadable.verdict.status = parse_status::failed;
  CHECK(drpo::detail::evaluation_text(unreadable) == "{}");
  CHECK(reference(unreadable) == "{}");
}
