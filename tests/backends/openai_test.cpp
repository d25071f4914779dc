// openai_backend against loopback servers that answer in each real server's shapes: vLLM, SGLang,
// llama.cpp, Ollama, TGI, OpenAI. Every request the backend sends is inspected at the server.
#include "backends/fixture.hpp"

#include <selfalign/backends/openai.hpp>
#include <selfalign/batch.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using namespace selfalign;
using nlohmann::json;

namespace {

json body_of(const httplib::Request& r) { return json::parse(r.body); }
void reply(httplib::Response& res, const json& j, int status = 200) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

const char* vllm_chat_answer = R"({
  "id":"chatcmpl-1","object":"chat.completion","created":1,"model":"test-model","system_fingerprint":null,
  "choices":[{"index":0,"message":{"role":"assistant","content":"Paris.","refusal":null,"tool_calls":[]},
    "logprobs":{"content":[
      {"token":"Paris","logprob":-0.125,"bytes":[80,97,114,105,115],"top_logprobs":[
        {"token":"Paris","logprob":-0.125,"bytes":[80,97,114,105,115]},{"token":"Lyon","logprob":-2.5,"bytes":null}]},
      {"token":".","logprob":-0.0625,"top_logprobs":[{"token":".","logprob":-0.0625}]}]},
    "finish_reason":"stop","stop_reason":null}],
  "usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":8}}})";

}  // namespace

TEST_CASE("vllm chat: the request carries the preset's fields and chat logprobs parse exactly" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  json seen;
  srv->Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = body_of(req);
    reply(res, json::parse(vllm_chat_answer));
  });
  srv.start();
  auto o = fixture::options(srv.url(), server_preset::vllm);
  o.extra_body = {{"repetition_penalty", 1.1}};
  openai_backend llm(o);
  generation_request r;
  r.prompt = prompt::chat({message::system("Be brief."), message::user("Capital of France?")});
  r.sampling.max_tokens = 5;
  r.sampling.stop = {"\n"};
  r.sampling.seed = 42;
  r.sampling.logprobs = 2;
  r.sampling.top_k = 3;
  auto g = llm.generate(r);
  REQUIRE(g);
  CHECK(seen["model"] == "test-model");
  CHECK(seen["messages"] == json::parse(R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Capital of France?"}])"));
  CHECK(seen["max_tokens"] == 5);
  CHECK(seen["stop"] == json::array({"\n"}));
  CHECK(seen["seed"] == 42);
  CHECK(seen["logprobs"] == true);
  CHECK(seen["top_logprobs"] == 2);
  CHECK(seen["top_k"] == 3);
  CHECK(seen["repetition_penalty"] == 1.1);
  CHECK_FALSE(seen.contains("n"));
  CHECK(g->text() == "Paris.");
  CHECK(g->model == "test-model");
  REQUIRE(g->choices.size() == 1);
  const auto& c = g->choices[0];
  CHECK(c.finish_reason == "stop");
  REQUIRE(c.tokens.size() == 2);
  CHECK(c.tokens[0].token == "Paris");
  CHECK(c.tokens[0].logprob == -0.125);
  REQUIRE(c.tokens[0].top.size() == 2);
  CHECK(c.tokens[0].top[1].token == "Lyon");
  CHECK(c.tokens[0].top[1].logprob == -2.5);
  CHECK(c.tokens[1].logprob == -0.0625);
  CHECK(g->usage.prompt_tokens == 12);
  CHECK(g->usage.completion_tokens == 2);
  CHECK(g->usage.cached_prompt_tokens == 8);
  CHECK(g->usage.requests == 1);
  CHECK(llm.stats().attempts == 1);
}

TEST_CASE("openai preset: max_completion_tokens, bearer key, extra headers; scoring is unsupported" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  json seen;
  std::string auth, org;
  srv->Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = body_of(req);
    auth = req.get_header_value("Authorization");
    org = req.get_header_value("OpenAI-Organization");
    reply(res, json::parse(vllm_chat_answer));
  });
  srv.start();
  auto o = fixture::options(srv.url(), server_preset::openai);
  o.api_key = "sk-test";
  o.headers = {{"OpenAI-Organization", "org-1"}};
  openai_backend llm(o);
  generation_request r;
  r.prompt = prompt::chat({message::user("hi")});
  r.sampling.max_tokens = 9;
  REQUIRE(llm.generate(r));
  CHECK(seen["max_completion_tokens"] == 9);
  CHECK_FALSE(seen.contains("max_tokens"));
  CHECK(auth == "Bearer sk-test");
  CHECK(org == "org-1");
  scoring_request s;
  s.prompt = "The sky is";
  s.continuation = " blue";
  auto sc = llm.score(s);
  REQUIRE_FALSE(sc);
  CHECK(sc.error().code == errc::unsupported);
  CHECK(sc.error().message == "the 'openai' server cannot score a given continuation (it returns no prompt logprobs); scoring works on "
                              "vLLM and SGLang (exact) and llama.cpp (approximate, teacher forcing)");
  CHECK(llm.stats().attempts == 1);  // scoring was refused without a request
  auto caps = llm.capabilities();
  CHECK(caps.server == "openai");
  CHECK_FALSE(caps.scoring);
  CHECK_FALSE(caps.token_ids);
}

TEST_CASE("vllm completions with a token-id prompt: legacy logprob arrays and token ids" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  json seen;
  srv->Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = body_of(req);
    reply(res, json::parse(R"({"id":"cmpl-1","object":"text_completion","model":"test-model",
      "choices":[{"index":0,"text":" blue sky","finish_reason":"length","stop_reason":null,
        "logprobs":{"tokens":["token_id:4","token_id:8"],"token_logprobs":[-0.5,-1.0],
          "top_logprobs":[{"token_id:4":-0.5,"token_id:6":-1.75},{"token_id:8":-1.0,"token_id:3":-1.5}],"text_offset":[0,5]}}],
      "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})"));
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
  generation_request r;
  r.prompt = prompt::tokens({1, 2, 3});
  r.sampling.max_tokens = 2;
  r.sampling.logprobs = 1;
  auto g = llm.generate(r);
  REQUIRE(g);
  CHECK(seen["prompt"] == json::array({1, 2, 3}));
  CHECK(seen["logprobs"] == 1);
  CHECK(g->text() == " blue sky");
  CHECK(g->choices[0].finish_reason == "length");
  CHECK(g->choices[0].token_ids == std::vector<token_id>{4, 8});
  REQUIRE(g->choices[0].tokens[1].top.size() == 2);
  CHECK(g->choices[0].tokens[1].top[1].id == 3);
  CHECK(g->choices[0].tokens[1].top[1].logprob == -1.5);
}

TEST_CASE("ollama ignores n: the backend sends n requests with distinct derived seeds" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::mutex m;
  std::vector<json> seen;
  srv->Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    json b = body_of(req);
    {
      std::lock_guard lock(m);
      seen.push_back(b);
    }
    // Ollama's shape: one choice whatever n says, chat-style logprobs absent.
    reply(res, {{"id", "chatcmpl-9"}, {"object", "chat.completion"}, {"model", "llama3"},
                {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "seed " + b["seed"].dump()}}}, {"finish_reason", "stop"}}}},
                {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 3}, {"total_tokens", 8}}}});
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::ollama));
  generation_request r;
  r.prompt = prompt::chat({message::user("hi")});
  r.sampling.n = 3;
  r.sampling.seed = 7;
  auto g = llm.generate(r);
  REQUIRE(g);
  REQUIRE(seen.size() == 3);
  std::set<std::uint64_t> seeds;
  for (const auto& b : seen) {
    CHECK_FALSE(b.contains("n"));
    seeds.insert(b["seed"].get<std::uint64_t>());
  }
  const std::set<std::uint64_t> expected{7, server_safe_seed(derive_seed(7, "choice", std::size_t{1})),
                                         server_safe_seed(derive_seed(7, "choice", std::size_t{2}))};
  CHECK(seeds == expected);
  REQUIRE(g->choices.size() == 3);
  CHECK(g->choices[0].text == "seed 7");
  CHECK(g->choices[1].text == "seed " + std::to_string(server_safe_seed(derive_seed(7, "choice", std::size_t{1}))));
  CHECK(g->usage.requests == 3);
  CHECK(g->usage.completion_tokens == 9);
}

TEST_CASE("a native-n server that returns fewer choices is topped up with single requests" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    ++calls;
    const json b = body_of(req);
    const int n = b.value("n", 1);
    json choices = json::array();
    for (int i = 0; i < std::min(n, 2); ++i)
      choices.push_back({{"index", i}, {"message", {{"role", "assistant"}, {"content", "c" + std::to_string(i)}}}, {"finish_reason", "stop"}});
    reply(res, {{"choices", choices}, {"usage", {{"prompt_tokens", 1}, {"completion_tokens", 1}}}});
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
  generation_request r;
  r.prompt = prompt::chat({message::user("x")});
  r.sampling.n = 3;
  auto g = llm.generate(r);
  REQUIRE(g);
  CHECK(calls == 2);
  REQUIRE(g->choices.size() == 3);
  CHECK(g->choices[0].text == "c0");
  CHECK(g->choices[1].text == "c1");
  CHECK(g->choices[2].text == "c0");
}

TEST_CASE("vllm scoring tokenizes at the server root and reads prompt_logprobs by token id" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::vector<json> tokenize_calls;
  json completion_seen;
  srv->Post("/tokenize", [&](const httplib::Request& req, httplib::Response& res) {
    json b = body_of(req);
    tokenize_calls.push_back(b);
    // The continuation is only ever tokenized together with the prompt (never alone: a
    // SentencePiece tokenizer would add its dummy-prefix space to it).
    if (b["prompt"] == "The sky is") reply(res, {{"count", 4}, {"max_model_len", 4096}, {"tokens", {1, 450, 14744, 338}}});
    else if (b["prompt"] == "The sky is blue.") reply(res, {{"count", 6}, {"max_model_len", 4096}, {"tokens", {1, 450, 14744, 338, 7254, 29889}}});
    else reply(res, {{"error", {{"message", "unexpected tokenize"}, {"type", "BadRequestError"}, {"code", 400}}}}, 400);
  });
  srv->Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    completion_seen = body_of(req);
    reply(res, json::parse(R"({"id":"cmpl-2","object":"text_completion","model":"test-model",
      "choices":[{"index":0,"text":"\n","logprobs":null,"finish_reason":"length",
        "prompt_logprobs":[null,{"450":{"logprob":-3.0,"rank":12,"decoded_token":"The"},"13":{"logprob":-1.0,"rank":1,"decoded_token":"A"}},
          {"14744":{"logprob":-5.0,"rank":40,"decoded_token":" sky"}},{"338":{"logprob":-0.5,"rank":1,"decoded_token":" is"}},
          {"7254":{"logprob":-1.25,"rank":2,"decoded_token":" blue"},"17354":{"logprob":-0.75,"rank":1,"decoded_token":" clear"}},
          {"29889":{"logprob":-0.25,"rank":1,"decoded_token":"."}}]}],
      "usage":{"prompt_tokens":6,"completion_tokens":1,"total_tokens":7}})"));
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
  scoring_request s;
  s.prompt = "The sky is";
  s.continuation = " blue.";
  s.top_logprobs = 1;
  auto sc = llm.score(s);
  REQUIRE(sc);
  REQUIRE(tokenize_calls.size() == 2);
  CHECK(tokenize_calls[0]["add_special_tokens"] == true);
  CHECK(tokenize_calls[1]["prompt"] == "The sky is blue.");  // joint: prompt + continuation
  CHECK(tokenize_calls[1]["add_special_tokens"] == true);
  CHECK(sc->boundary == scoring_boundary::joint_tokenization);
  CHECK_FALSE(sc->boundary_merged);
  CHECK(sc->prompt_tokens == 4);
  CHECK(completion_seen["prompt"] == json::array({1, 450, 14744, 338, 7254, 29889}));
  CHECK(completion_seen["prompt_logprobs"] == 1);
  CHECK(sc->logprob == -1.5);
  CHECK_FALSE(sc->approximate);
  REQUIRE(sc->tokens.size() == 2);
  CHECK(sc->tokens[0].token == " blue");
  CHECK(sc->tokens[0].id == 7254);
  REQUIRE(sc->tokens[0].top.size() == 1);
  CHECK(sc->tokens[0].top[0].token == " clear");
  CHECK(sc->tokens[1].logprob == -0.25);
  CHECK(sc->usage.requests == 3);
  CHECK(sc->usage.prompt_tokens == 6);
}

TEST_CASE("sglang scoring uses echo with max_tokens 1 and drops the generated token" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  json seen;
  srv->Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = body_of(req);
    reply(res, json::parse(R"({"id":"x","object":"text_completion","model":"m","choices":[{"index":0,"text":"ab c","finish_reason":"length",
      "logprobs":{"tokens":["a","b"," c","!"],"token_logprobs":[null,-0.5,-2.0,-0.1],
        "top_logprobs":[null,{"b":-0.5},{" d":-1.0," c":-2.0},{"!":-0.1}],"text_offset":[0,1,2,4]}}],
      "usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}})"));
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::sglang));
  scoring_request s;
  s.prompt = prompt::tokens({5});
  s.continuation_token_ids = {6, 7};
  s.top_logprobs = 1;
  auto sc = llm.score(s);
  REQUIRE(sc);
  CHECK(seen["prompt"] == json::array({5, 6, 7}));
  CHECK(seen["echo"] == true);
  CHECK(seen["max_tokens"] == 1);
  CHECK(sc->logprob == -2.5);
  REQUIRE(sc->tokens.size() == 2);
  CHECK(sc->tokens[0].id == 6);
  CHECK(sc->tokens[1].token == " c");
  REQUIRE(sc->tokens[1].top.size() == 1);
  CHECK(sc->tokens[1].top[0].token == " d");
  CHECK(llm.stats().attempts == 1);
}

namespace {
// llama.cpp's native /completion for the teacher-forcing tests: one result per prompt; a list of
// token-id prompts is answered with an array of results (each with its index), as llama-server does.
json teacher_step_answer(const json& prompt) {
  const auto len = prompt.size();
  // After [1,2]: token 10 is in the top list. After [1,2,10]: token 11 is not (bound -4.0).
  json top = len == 2 ? json::parse(R"([{"id":10,"token":" A","logprob":-0.5,"bytes":[32,65]},{"id":12,"token":" B","logprob":-1.5}])")
                      : json::parse(R"([{"id":13,"token":"x","logprob":-0.1},{"id":14,"token":"y","logprob":-4.0}])");
  return {{"content", "?"}, {"tokens_evaluated", len}, {"tokens_predicted", 1}, {"timings", {{"prompt_n", 1}}},
          {"completion_probabilities", {{{"id", top[0]["id"]}, {"token", top[0]["token"]}, {"logprob", top[0]["logprob"]}, {"top_logprobs", top}}}}};
}
json teacher_answer(const json& body) {
  const json& p = body["prompt"];
  if (!p.empty() && p[0].is_array()) {
    json all = json::array();
    // In reverse, so that only `index` puts them in order.
    for (std::size_t i = p.size(); i-- > 0;) {
      json one = teacher_step_answer(p[i]);
      one["index"] = i;
      all.push_back(std::move(one));
    }
    return all;
  }
  return teacher_step_answer(p);
}
}  // namespace

TEST_CASE("llama.cpp scoring by teacher forcing: every position in one /completion carrying a list of prompts, approximate outside the top-k" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::vector<json> steps;
  srv->Post("/completion", [&](const httplib::Request& req, httplib::Response& res) {
    json b = body_of(req);
    steps.push_back(b);
    reply(res, teacher_answer(b));
  });
  srv->Post("/tokenize", [&](const httplib::Request& req, httplib::Response& res) {
    json b = body_of(req);
    if (b["content"] == "Q:" && b["add_special"] == true) reply(res, {{"tokens", {1, 2}}});
    else if (b["content"] == "Q: A!" && b["add_special"] == true) reply(res, {{"tokens", {1, 2, 10, 11}}});
    else reply(res, {{"error", {{"code", 400}, {"message", "unexpected tokenize"}, {"type", "invalid_request_error"}}}}, 400);
  });
  srv.start();
  auto o = fixture::options(srv.url(), server_preset::llamacpp);
  o.teacher_forcing_top_k = 2;
  openai_backend llm(o);
  scoring_request s;
  s.prompt = "Q:";
  s.continuation = " A!";
  auto sc = llm.score(s);
  REQUIRE(sc);
  // One request for both positions: the prompt, and the prompt with the first token.
  REQUIRE(steps.size() == 1);
  CHECK(steps[0]["prompt"] == json::array({json::array({1, 2}), json::array({1, 2, 10})}));
  CHECK(steps[0]["n_probs"] == 2);
  CHECK(steps[0]["cache_prompt"] == true);
  CHECK(steps[0]["n_predict"] == 1);
  CHECK(sc->approximate);
  CHECK(sc->tokens[0].logprob == -0.5);
  CHECK(sc->tokens[1].logprob == -4.0);  // an upper bound: the token was not in the top 2
  CHECK(sc->logprob == -4.5);
  CHECK(sc->usage.prompt_tokens == 5);
  CHECK(sc->usage.requests == 3);  // two tokenize requests and one /completion
  auto caps = llm.capabilities();
  CHECK(caps.scoring);
  CHECK_FALSE(caps.scoring_exact);

  // The same numbers as one request per position (the path for a server without lists).
  detail::http_transport net(o);
  const std::vector<token_id> prompt_ids{1, 2}, continuation{10, 11};
  const std::string model;
  const detail::scoring_call call{model, prompt_ids, continuation, 0, net.call_deadline()};
  steps.clear();
  auto one_by_one = detail::score_by_teacher_forcing(net, call, 2, 1);
  REQUIRE(one_by_one);
  REQUIRE(steps.size() == 2);
  CHECK(steps[0]["prompt"] == json::array({1, 2}));
  CHECK(steps[1]["prompt"] == json::array({1, 2, 10}));
  REQUIRE(one_by_one->tokens.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(one_by_one->tokens[i].logprob == sc->tokens[i].logprob);
    CHECK(one_by_one->tokens[i].id == sc->tokens[i].id);
    CHECK(one_by_one->tokens[i].top.size() == sc->tokens[i].top.size());
  }
  CHECK(one_by_one->approximate);
  CHECK(one_by_one->used.prompt_tokens == 5);
  CHECK(one_by_one->used.requests == 2);
}

TEST_CASE("llama.cpp teacher forcing: a list answered with the wrong number of results is a bad response" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  srv->Post("/completion", [&](const httplib::Request& req, httplib::Response& res) {
    json b = body_of(req);
    json all = teacher_answer(b);
    if (all.is_array()) all.erase(all.size() - 1);  // one result short
    reply(res, all);
  });
  srv.start();
  auto o = fixture::options(srv.url(), server_preset::llamacpp);
  o.teacher_forcing_top_k = 2;
  openai_backend llm(o);
  scoring_request s;
  s.prompt = prompt::tokens({1, 2});
  s.continuation_token_ids = {10, 11, 12};
  auto sc = llm.score(s);
  REQUIRE_FALSE(sc);
  CHECK(sc.error().code == errc::bad_response);
  CHECK(sc.error().message.find("carrying 3 prompts was answered with 2 results") != std::string::npos);
}

TEST_CASE("tgi string errors and sglang flat errors become one error type" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.set_header("x-request-id", "tgi-7");
    reply(res, {{"error", "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096"}, {"error_type", "validation"}}, 422);
  });
  srv->Post("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    reply(res, json::parse(R"({"object":"error","message":"The prompt is too long","type":"BadRequestError","param":null,"code":400})"), 400);
  });
  srv.start();
  openai_backend tgi(fixture::options(srv.url(), server_preset::tgi));
  generation_request r;
  r.prompt = prompt::chat({message::user("x")});
  auto e = tgi.generate(r);
  REQUIRE_FALSE(e);
  CHECK(e.error().code == errc::context_overflow);  // TGI's wording of a context overflow (issue 11)
  CHECK(e.error().http_status == 422);
  CHECK(e.error().message == "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096");
  CHECK(e.error().type == "validation");
  CHECK(e.error().request_id == "tgi-7");
  CHECK(calls == 1);  // a 422 is never retried
  openai_backend sglang(fixture::options(srv.url(), server_preset::sglang));
  generation_request t;
  t.prompt = "long prompt";
  auto f = sglang.generate(t);
  REQUIRE_FALSE(f);
  CHECK(f.error().http_status == 400);
  CHECK(f.error().message == "The prompt is too long");
  CHECK(f.error().type == "BadRequestError");
  CHECK(f.error().server_code == "400");
  CHECK(calls == 2);
}

TEST_CASE("embeddings come back in input order; models list; llama.cpp tokenize and detokenize" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  json seen;
  srv->Post("/v1/embeddings", [&](const httplib::Request& req, httplib::Response& res) {
    seen = body_of(req);
    reply(res, json::parse(R"({"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.5,0.25]},
      {"object":"embedding","index":0,"embedding":[1.0,-1.0]}],"model":"e","usage":{"prompt_tokens":4,"total_tokens":4}})"));
  });
  srv->Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    reply(res, json::parse(R"({"object":"list","data":[{"id":"qwen.gguf","object":"model","created":1,"owned_by":"llamacpp","meta":{"n_ctx_train":4096}}]})"));
  });
  srv->Post("/tokenize", [&](const httplib::Request& req, httplib::Response& res) {
    json b = body_of(req);
    CHECK(b["content"] == "hello");
    CHECK(b["add_special"] == false);
    reply(res, {{"tokens", {{{"id", 15339}, {"piece", "hello"}}}}});
  });
  srv->Post("/detokenize", [&](const httplib::Request& req, httplib::Response& res) {
    CHECK(body_of(req)["tokens"] == json::array({15339}));
    reply(res, {{"content", "hello"}});
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::llamacpp));
  auto e = llm.embed({"", {"first", "second"}});
  REQUIRE(e);
  CHECK(seen["input"] == json::array({"first", "second"}));
  REQUIRE(e->vectors.size() == 2);
  CHECK(e->vectors[0] == std::vector<float>{1.0f, -1.0f});
  CHECK(e->vectors[1] == std::vector<float>{0.5f, 0.25f});
  CHECK(e->usage.prompt_tokens == 4);
  auto models = llm.list_models();
  REQUIRE(models);
  REQUIRE(models->size() == 1);
  CHECK((*models)[0].id == "qwen.gguf");
  CHECK((*models)[0].owned_by == "llamacpp");
  auto ids = llm.tokenize("hello", false);
  REQUIRE(ids);
  CHECK(*ids == std::vector<token_id>{15339});
  auto text = llm.detokenize(*ids);
  REQUIRE(text);
  CHECK(*text == "hello");
}

TEST_CASE("the automatic preset probes once and then behaves as the server found" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> model_calls{0}, chat_calls{0};
  srv->Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    ++model_calls;
    reply(res, json::parse(R"({"object":"list","data":[{"id":"meta-llama/Llama-3-8B","object":"model","owned_by":"vllm","max_model_len":8192}]})"));
  });
  srv->Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    ++chat_calls;
    CHECK(body_of(req)["model"] == "meta-llama/Llama-3-8B");
    reply(res, json::parse(vllm_chat_answer));
  });
  srv.start();
  auto o = fixture::options(srv.url(), server_preset::automatic);
  o.model.clear();
  openai_backend llm(o);
  auto caps = llm.capabilities();
  CHECK(caps.server == "vllm");
  CHECK(caps.scoring);
  CHECK_FALSE(caps.token_ids);  // id prompts yes, but alternatives come back keyed by text
  CHECK(caps.tokenize);
  generation_request r;
  r.prompt = prompt::chat({message::user("x")});
  REQUIRE(llm.generate(r));
  REQUIRE(llm.generate(r));
  CHECK(model_calls == 1);
  CHECK(chat_calls == 2);
  auto info = llm.probe();
  REQUIRE(info);
  CHECK(info->preset == server_preset::vllm);
  CHECK(info->models[0].max_model_len == 8192);
}

TEST_CASE("the automatic preset recognises ollama by /api/version when /v1/models says nothing" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  srv->Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    reply(res, json::parse(R"({"object":"list","data":[{"id":"llama3:8b","object":"model","created":1,"owned_by":"someone"}]})"));
  });
  srv->Get("/api/version", [&](const httplib::Request&, httplib::Response& res) { reply(res, {{"version", "0.12.11"}}); });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::automatic));
  auto info = llm.probe();
  REQUIRE(info);
  CHECK(info->preset == server_preset::ollama);
  CHECK(llm.capabilities().server == "ollama");
}

namespace {
// Serves an SSE body in awkward pieces: a comment ping, an event split mid-JSON and mid-CRLF.
void sse_reply(httplib::Response& res, std::vector<std::string> pieces) {
  res.set_chunked_content_provider("text/event-stream", [pieces = std::move(pieces)](std::size_t, httplib::DataSink& sink) {
    for (const auto& p : pieces) sink.write(p.data(), p.size());
    sink.done();
    return true;
  });
}
}  // namespace

TEST_CASE("streaming chat: deltas arrive through the callback and fold into one generation" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  json seen;
  srv->Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = body_of(req);
    sse_reply(res, {": ping\r\n\r\n",
                    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel",
                    "lo\"},\"logprobs\":{\"content\":[{\"token\":\"Hello\",\"logprob\":-0.5}]},\"finish_reason\":null}],\"usage\":null}\r",
                    "\n\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":\"stop\"}]}\n\n",
                    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n",
                    "data: [DONE]\n\n"});
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
  generation_request r;
  r.prompt = prompt::chat({message::user("x")});
  r.sampling.logprobs = 0;
  std::vector<std::string> deltas;
  auto g = llm.generate_stream(r, [&](const stream_chunk& c) {
    deltas.push_back(c.text + "|" + c.finish_reason);
    return true;
  });
  REQUIRE(g);
  CHECK(seen["stream"] == true);
  CHECK(seen["stream_options"]["include_usage"] == true);
  CHECK(deltas == std::vector<std::string>{"Hello|", " world|stop"});
  CHECK(g->text() == "Hello world");
  CHECK(g->choices[0].finish_reason == "stop");
  REQUIRE(g->choices[0].tokens.size() == 1);
  CHECK(g->choices[0].tokens[0].logprob == -0.5);
  CHECK(g->usage.prompt_tokens == 3);
  CHECK(g->usage.completion_tokens == 2);
}

TEST_CASE("streaming completions: an error inside a 200 stream and a cancelling callback" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    ++calls;
    if (body_of(req)["prompt"] == "fail")
      sse_reply(res, {"data: {\"choices\":[{\"index\":0,\"text\":\"par\",\"finish_reason\":null}]}\n\n",
                      "data: {\"error\":{\"code\":500,\"message\":\"llama_decode failed\",\"type\":\"server_error\"}}\n\n"});
    else
      sse_reply(res, {"data: {\"choices\":[{\"index\":0,\"text\":\"a\",\"finish_reason\":null}]}\n\n",
                      "data: {\"choices\":[{\"index\":0,\"text\":\"b\",\"finish_reason\":null}]}\n\n",
                      "data: {\"choices\":[{\"index\":0,\"text\":\"c\",\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"});
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::llamacpp));
  generation_request r;
  r.prompt = "fail";
  std::string got;
  auto e = llm.generate_stream(r, [&](const stream_chunk& c) {
    got += c.text;
    return true;
  });
  REQUIRE_FALSE(e);
  CHECK(got == "par");
  CHECK(e.error().code == errc::server_error);
  CHECK(e.error().message == "llama_decode failed");
  CHECK(calls == 1);  // never retried once data reached the caller
  r.prompt = "ok";
  got.clear();
  auto c = llm.generate_stream(r, [&](const stream_chunk& ch) {
    got += ch.text;
    return got.size() < 2;
  });
  REQUIRE_FALSE(c);
  CHECK(c.error().code == errc::cancelled);
  CHECK(got == "ab");
  CHECK(calls == 2);
}

TEST_CASE("a stream that ends without [DONE] or a finish_reason is a bad_response" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  srv->Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    sse_reply(res, {"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n"});
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::sglang));
  generation_request r;
  r.prompt = prompt::chat({message::user("x")});
  auto g = llm.generate_stream(r, [](const stream_chunk&) { return true; });
  REQUIRE_FALSE(g);
  CHECK(g.error().code == errc::bad_response);
  CHECK(g.error().message == "the stream from POST /chat/completions ended before [DONE] and before a finish_reason (1 events received)");
}

TEST_CASE("unsupported requests are refused before any request is sent" * doctest::test_suite("backends")) {
  openai_backend ollama(fixture::options("http://127.0.0.1:9/v1", server_preset::ollama));
  generation_request r;
  r.prompt = prompt::tokens({1, 2});
  auto a = ollama.generate(r);
  REQUIRE_FALSE(a);
  CHECK(a.error().code == errc::unsupported);
  CHECK(a.error().message == "the 'ollama' server does not accept token-id prompts; vLLM, SGLang and llama.cpp do");
  auto t = ollama.tokenize("x", true);
  REQUIRE_FALSE(t);
  CHECK(t.error().message == "the 'ollama' server has no /tokenize endpoint; vLLM, SGLang and llama.cpp do");
  openai_backend tgi(fixture::options("http://127.0.0.1:9/v1", server_preset::tgi));
  auto e = tgi.embed({"", {"x"}});
  REQUIRE_FALSE(e);
  CHECK(e.error().message == "the 'tgi' server has no /v1/embeddings endpoint");
  CHECK(ollama.stats().attempts == 0);
  CHECK(tgi.stats().attempts == 0);
  auto bad = openai_backend::create(fixture::options("gopher://x", server_preset::vllm));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_argument);
}

TEST_CASE("openai_options::from_env reads the base url list, model and preset" * doctest::test_suite("backends")) {
  ::setenv("SELFALIGN_BASE_URL", "http://a:1/v1, http://b:2/v1", 1);
  ::setenv("SELFALIGN_MODEL", "m1", 1);
  ::setenv("SELFALIGN_SERVER", "sglang", 1);
  auto o = openai_options::from_env();
  CHECK(o.base_urls == std::vector<std::string>{"http://a:1/v1", "http://b:2/v1"});
  CHECK(o.model == "m1");
  CHECK(o.preset == server_preset::sglang);
  ::unsetenv("SELFALIGN_BASE_URL");
  ::setenv("OPENAI_BASE_URL", "http://c:3/v1", 1);
  CHECK(openai_options::from_env().base_urls == std::vector<std::string>{"http://c:3/v1"});
  ::unsetenv("OPENAI_BASE_URL");
  ::unsetenv("SELFALIGN_MODEL");
  ::unsetenv("SELFALIGN_SERVER");
  auto d = openai_options::from_env();
  CHECK(d.base_urls == std::vector<std::string>{"http://127.0.0.1:8080/v1"});
  CHECK(d.preset == server_preset::automatic);
}
