// The library's algorithms called directly (not through the CLI) on the real llama-server.
#include "real_server/proxy.hpp"
#include "real_server/server.hpp"

#include <selfalign/backends/openai.hpp>
#include <selfalign/dlma/build_pairs.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace selfalign;
using nlohmann::json;

TEST_CASE("dlma::build_pairs: both answers are what the server sampled, under the contrastive prompts, exactly as asked") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  openai_options o;
  o.base_urls = {proxy.url()};
  o.retry.max_retries = 0;
  openai_backend llm(o);
  dlma::config cfg;
  cfg.max_tokens = 6;
  cfg.seed = 11;
  auto rep = dlma::build_pairs(llm, std::vector<std::string>{"How do I store cleaning products?"}, cfg);
  REQUIRE(rep);
  REQUIRE(rep->pairs.size() == 1);
  const auto& p = rep->pairs.front();

  auto gens = proxy.on("/v1/completions");
  REQUIRE(gens.size() == 2);  // one answer under p+, one under p−
  std::vector<std::string> sampled;
  for (const auto& g : gens) {
    const json req = g.request();
    CHECK(req["temperature"] == 1.0);
    CHECK(req["top_k"] == 50);      // the paper's top-k, as configured
    CHECK(req["min_p"] == 0.0);     // and nothing else truncates
    CHECK(req["max_tokens"] == 6);
    const json applied = g.response()["__verbose"]["generation_settings"];
    CHECK(applied["top_k"] == 50);
    CHECK(applied["top_p"].get<double>() == 1.0);
    CHECK(applied["min_p"].get<double>() == 0.0);
    sampled.push_back(g.response()["choices"][0]["text"].get<std::string>());
  }
  // The answers are the sampled texts, stripped of surrounding white space (dlma::config's default).
  auto from_server = [&](const std::string& a) {
    return !a.empty() && (sampled[0].find(a) != std::string::npos || sampled[1].find(a) != std::string::npos);
  };
  const bool positive_sampled = from_server(p.positive_answer);
  const bool negative_sampled = from_server(p.negative_answer);
  CHECK(positive_sampled);
  CHECK(negative_sampled);
  CHECK(std::isfinite(p.self_reward));
  CHECK(p.self_reward == doctest::Approx(p.reward_positive - p.reward_negative));
  CHECK_FALSE(proxy.on("/completion").empty());  // scored on the server (teacher forcing)
}
