// The real llama-server itself, as scripts/llama-server.sh starts it: the facts the other real-server
// tests (and docs/backends.md) rely on — the model it serves, the per-slot context, the endpoints.
#include "real_server/server.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

using nlohmann::json;

namespace {
json get_json(const real_server::server& s, const std::string& path) {
  httplib::Client c("127.0.0.1", s.port());
  auto res = c.Get(path);
  REQUIRE(res);
  REQUIRE(res->status == 200);
  return json::parse(res->body);
}
}  // namespace

TEST_CASE("llama-server.sh starts the tiny model on a loopback port; /v1/models and /props describe it") {
  real_server::config cfg;
  cfg.ctx = 2048;
  cfg.slots = 2;
  REAL_SERVER_OR_RETURN(s, cfg);
  CHECK(s->base_url() == "http://127.0.0.1:" + std::to_string(s->port()) + "/v1");
  CHECK(real_server::version().rfind("version: ", 0) == 0);

  auto models = get_json(*s, "/v1/models");
  REQUIRE(models["data"].size() == 1);
  CHECK(models["data"][0]["id"] == real_server::tiny_model());
  CHECK(models["data"][0]["meta"]["n_vocab"] == 32000);
  CHECK(models["data"][0]["meta"]["n_ctx"] == 1024);  // -c 2048 split over -np 2 slots

  auto props = get_json(*s, "/props");
  CHECK(props["total_slots"] == 2);
  CHECK(props["default_generation_settings"]["n_ctx"] == 1024);
  // The sampler defaults that a request must override to get the plain softmax (issue 11, item 1).
  auto params = props["default_generation_settings"]["params"];
  CHECK(params["top_k"] == 40);
  CHECK(params["top_p"].get<double>() == doctest::Approx(0.95));
  CHECK(params["min_p"].get<double>() == doctest::Approx(0.05));
}

TEST_CASE("llama-server.sh start fails with the reason when the model is missing") {
  if (!real_server::fetch_error().empty()) return;  // reported by the test above
  std::string out, err;
  auto dir = real_server::work_dir() / "missing-model";
  int rc = real_server::run("bash " + real_server::quote(real_server::script()) + " start --state-dir " +
                                real_server::quote(dir.string()) + " --model /nonexistent/m.gguf",
                            out, err);
  CHECK(rc == 1);
  CHECK(out.empty());
  CHECK(err == "llama-server.sh: model /nonexistent/m.gguf not readable\n");
}
