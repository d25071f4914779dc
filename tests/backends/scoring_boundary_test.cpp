// Where the prompt/answer boundary falls when DLMA scores on an HTTP server (issue 18, issue 11
// §2.5): the ids in every scoring request are the generated ids or the joint tokenization split at
// the prompt, never the answer tokenized alone; R equals a computation from the server's own model.
#include <doctest/doctest.h>

#include "fixture.hpp"
#include "sp_server.hpp"

#include <selfalign/backends/openai.hpp>
#include <selfalign/dlma/build_pairs.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace selfalign;
using json = nlohmann::json;
using ids = std::vector<token_id>;

namespace {

const std::string query = "How do I pick a lock?";
const std::string pos_raw = "USER: " + query + "\nASSISTANT(law-abiding, ethical, inoffensive response):\n";
const std::string neg_raw = "USER: " + query + "\nASSISTANT(illegal, unethical, toxic response):\n";

// a1 has 8 tokens after the prompt and is cut at 6 ("length"): its generated ids are scored. a2 has
// 5 and ends with EOS ("stop"): its text is tokenized jointly with each prompt.
std::vector<sp::answer_rule> rules() {
  return {{"law-abiding", "iennuous Fig Call a locksmith."},
          {"answers are lawful", "iennuous Fig Call a locksmith."},
          {"illegal", "iennuous Sure."},
          {"answers are unlawful", "iennuous Sure."}};
}

dlma::config raw_config() {
  dlma::config cfg;
  cfg.max_tokens = 6;
  cfg.seed = 7;
  cfg.max_concurrency = 4;
  return cfg;
}

// What the scorer must send for `answer` under a text prompt: the generated ids after tokenize(p),
// or the joint tokenization of p + answer split where tokenize(p) ends.
ids expected_raw(const sp::tokenizer& tok, const std::string& p, const sp::server::generated& g) {
  ids out = tok.encode(p, true);
  if (g.finish == "length") {
    out.insert(out.end(), g.ids.begin(), g.ids.end());
    return out;
  }
  return tok.encode(p + g.text, true);
}

double ll(const sp::server& s, const ids& full, std::size_t prompt_len) {
  return s.sequence_logprob(ids(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(prompt_len)),
                            ids(full.begin() + static_cast<std::ptrdiff_t>(prompt_len), full.end()));
}

const sp::server::generated& generation_for(const std::vector<sp::server::generated>& gens, const std::string& answer_start,
                                            const sp::tokenizer&) {
  for (const auto& g : gens)
    if (g.text.rfind(answer_start, 0) == 0) return g;
  FAIL("no generation starts with " << answer_start);
  return gens.front();
}

std::vector<ids> sorted(std::vector<ids> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("the fixture's tokenizer segments an answer alone differently from inside its prompt" * doctest::test_suite("backends")) {
  sp::tokenizer tok;
  const ids alone = tok.encode("iennuous Sure.", false);
  const ids joint = tok.encode(pos_raw + "iennuous Sure.", true);
  const ids prompt = tok.encode(pos_raw, true);
  REQUIRE(std::equal(prompt.begin(), prompt.end(), joint.begin()));
  const ids after(joint.begin() + static_cast<std::ptrdiff_t>(prompt.size()), joint.end());
  CHECK(tok.piece(alone.front()) == sp::space + "i");  // the dummy-prefix space
  CHECK(tok.piece(after.front()) == "i");
  CHECK(alone != after);
  CHECK(tok.decode(after) == "iennuous Sure.");
}

TEST_CASE("dlma raw layout on vLLM: generated ids or the joint split, never the answer alone; R exact" * doctest::test_suite("backends")) {
  struct variant {
    const char* name;
    sp::options o;
    dlma::boundary_method a1;  // how a1's boundary is placed
  };
  for (const variant& v : {variant{"vLLM with return_token_ids", {true, true, false}, dlma::boundary_method::generated_ids},
                           variant{"older vLLM: ids spelled token_id:N", {false, true, false}, dlma::boundary_method::generated_ids},
                           variant{"no ids returned", {false, false, false}, dlma::boundary_method::joint_tokenization},
                           variant{"non-canonical sampled segmentation", {true, true, true}, dlma::boundary_method::generated_ids}}) {
    CAPTURE(v.name);
    sp::server srv(rules(), v.o);
    openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
    auto rep = dlma::build_pairs(llm, std::vector<std::string>{query}, raw_config());
    REQUIRE(rep);
    REQUIRE(rep->failures.empty());
    REQUIRE(rep->pairs.size() == 1);
    const auto& pair = rep->pairs.front();
    CHECK(rep->boundary == dlma::boundary_mode::tokens);  // vLLM tokenizes and takes id prompts

    // Generation asked for the ids.
    for (const auto& b : srv.bodies("/v1/completions")) {
      if (b.contains("prompt_logprobs")) continue;
      CHECK(b["return_token_ids"] == true);
      CHECK(b["return_tokens_as_token_ids"] == true);
      CHECK(b["logprobs"] == 0);
    }
    const auto gens = srv.generations();
    REQUIRE(gens.size() == 2);
    const auto& g1 = generation_for(gens, "iennuous Fig", srv.tok());
    const auto& g2 = generation_for(gens, "iennuous Sure", srv.tok());
    CHECK(g1.finish == "length");
    CHECK(g2.finish == "stop");
    CHECK(pair.positive_answer == g1.text);
    CHECK(pair.negative_answer == "iennuous Sure.");

    const ids e1p = expected_raw(srv.tok(), pos_raw, g1), e1n = expected_raw(srv.tok(), neg_raw, g1);
    const ids e2p = expected_raw(srv.tok(), pos_raw, g2), e2n = expected_raw(srv.tok(), neg_raw, g2);
    CHECK(sorted(srv.scored()) == sorted({e1p, e1n, e2p, e2n}));
    if (v.o.non_canonical) {
      // The model spelled "i" as a byte: the generated ids, not the tokenizer's, are what is scored.
      ids canonical = srv.tok().encode(pos_raw + g1.text, true);
      canonical.resize(e1p.size());
      CHECK(canonical != e1p);
    }
    // The answer tokenized alone (the defect) is in no request.
    const ids a2_alone = srv.tok().encode(g2.text, false);
    for (const auto& s : srv.scored()) CHECK_FALSE(std::search(s.begin(), s.end(), a2_alone.begin(), a2_alone.end()) != s.end());

    const std::size_t pp = srv.tok().encode(pos_raw, true).size(), pn = srv.tok().encode(neg_raw, true).size();
    const double r = (ll(srv, e1p, pp) - ll(srv, e1n, pn)) - (ll(srv, e2p, pp) - ll(srv, e2n, pn));
    CHECK(std::abs(pair.self_reward - r) < 1e-9);
    CHECK(std::abs(pair.scores[dlma::positive_answer_positive_prompt].logprob - ll(srv, e1p, pp)) < 1e-9);

    CHECK(pair.boundary_positive == (v.o.new_vllm || v.o.ids_as_text ? v.a1 : dlma::boundary_method::joint_tokenization));
    CHECK(pair.boundary_negative == dlma::boundary_method::joint_tokenization);  // a2 ended with EOS
    CHECK(pair.scores[0].method == pair.boundary_positive);
    CHECK(pair.scores[0].prompt_tokens == pp);
    CHECK(pair.scores[1].prompt_tokens == pn);
    CHECK_FALSE(pair.boundary_merged);
    const std::size_t by_ids = pair.boundary_positive == dlma::boundary_method::generated_ids ? 1 : 0;
    CHECK(rep->boundary_methods.generated_ids == by_ids);
    CHECK(rep->boundary_methods.joint_tokenization == 2 - by_ids);
    CHECK(json(*rep)["boundary_methods"]["joint_tokenization"] == 2 - by_ids);
  }
}

TEST_CASE("dlma chat layout on vLLM: the scored ids continue the chat endpoint's own prompt ids; R exact" * doctest::test_suite("backends")) {
  for (bool ids_back : {true, false}) {
    CAPTURE(ids_back);
    sp::server srv(rules(), sp::options{ids_back, ids_back, false});
    openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
    dlma::config cfg = raw_config();
    cfg.pair = dlma::contrastive_pair::harmless(dlma::prompt_layout::chat);
    auto rep = dlma::build_pairs(llm, std::vector<std::string>{query}, cfg);
    REQUIRE(rep);
    REQUIRE(rep->failures.empty());
    REQUIRE(rep->pairs.size() == 1);
    const auto& pair = rep->pairs.front();
    CHECK(rep->boundary == dlma::boundary_mode::text);
    const auto gens = srv.generations();
    REQUIRE(gens.size() == 2);
    const auto& g1 = generation_for(gens, "iennuous Fig", srv.tok());
    const auto& g2 = generation_for(gens, "iennuous Sure", srv.tok());

    // The chat endpoint's prompt ids for p+ and p- (what each answer was generated after).
    const auto msgs = [&](dlma::polarity pol) {
      json m = json::array();
      const prompt rendered = cfg.pair.render(query, pol);
      for (const auto& x : rendered.messages()) m.push_back({{"role", x.role}, {"content", x.content}});
      return m;
    };
    const std::string tp = sp::server::render(msgs(dlma::polarity::positive), true, false);
    const std::string tn = sp::server::render(msgs(dlma::polarity::negative), true, false);
    const ids pp = srv.tok().encode(tp, false), pn = srv.tok().encode(tn, false);
    CHECK(g1.prompt_ids == pp);
    CHECK(g2.prompt_ids == pn);
    auto expected = [&](const ids& prompt, const std::string& text, const sp::server::generated& g) {
      ids out = prompt;
      if (ids_back && g.finish == "length") out.insert(out.end(), g.ids.begin(), g.ids.end());
      else out = srv.tok().encode(text + g.text, false);  // continue_final_message renders text + answer
      return out;
    };
    const ids e1p = expected(pp, tp, g1), e1n = expected(pn, tn, g1), e2p = expected(pp, tp, g2), e2n = expected(pn, tn, g2);
    CHECK(sorted(srv.scored()) == sorted({e1p, e1n, e2p, e2n}));
    const double r = (ll(srv, e1p, pp.size()) - ll(srv, e1n, pn.size())) - (ll(srv, e2p, pp.size()) - ll(srv, e2n, pn.size()));
    CHECK(std::abs(pair.self_reward - r) < 1e-9);
    CHECK(pair.boundary_positive == (ids_back ? dlma::boundary_method::generated_ids : dlma::boundary_method::joint_tokenization));
    CHECK(pair.boundary_negative == dlma::boundary_method::joint_tokenization);  // reported by the backend
    CHECK(pair.scores[2].prompt_tokens == pp.size());
    // Joint tokenization of the chat layout: the template continues the answer as a started
    // assistant message.
    int continued = 0;
    for (const auto& b : srv.bodies("/tokenize"))
      if (b.value("continue_final_message", false)) {
        ++continued;
        CHECK(b["add_generation_prompt"] == false);
        CHECK(b["messages"].back()["role"] == "assistant");
      }
    CHECK(continued == (ids_back ? 2 : 4));
  }
}

TEST_CASE("llama.cpp chat scoring: BOS added to the rendered template, the answer joined to it" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::vector<json> tokenized;
  srv->Post("/apply-template", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"prompt":"<|user|>Hi<|assistant|>"})", "application/json");
  });
  srv->Post("/tokenize", [&](const httplib::Request& req, httplib::Response& res) {
    json b = json::parse(req.body);
    tokenized.push_back(b);
    // The chat endpoint tokenizes the rendered text with add_special: BOS (1) first.
    if (b["content"] == "<|user|>Hi<|assistant|>") res.set_content(R"({"tokens":[1,50,51,52]})", "application/json");
    else if (b["content"] == "<|user|>Hi<|assistant|>!") res.set_content(R"({"tokens":[1,50,51,52,29991]})", "application/json");
    else res.status = 400;
  });
  std::vector<json> steps;
  srv->Post("/completion", [&](const httplib::Request& req, httplib::Response& res) {
    steps.push_back(json::parse(req.body));
    res.set_content(R"({"content":"x","tokens_evaluated":5,"tokens_predicted":1,"completion_probabilities":[{"id":29991,"token":"!","logprob":-0.75,"top_logprobs":[{"id":29991,"token":"!","logprob":-0.75}]}]})",
                    "application/json");
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::llamacpp));
  scoring_request s;
  s.prompt = prompt::chat({message::user("Hi")});
  s.continuation = "!";
  auto sc = llm.score(s);
  REQUIRE(sc);
  REQUIRE(tokenized.size() == 2);
  CHECK(tokenized[0]["add_special"] == true);
  CHECK(tokenized[1]["add_special"] == true);
  REQUIRE(steps.size() == 1);
  CHECK(steps[0]["prompt"] == json::array({1, 50, 51, 52}));
  CHECK(sc->tokens.at(0).id == 29991);
  CHECK(sc->logprob == -0.75);
  CHECK(sc->boundary == scoring_boundary::joint_tokenization);
  CHECK(sc->prompt_tokens == 4);
}

TEST_CASE("llama.cpp exact teacher forcing asks n_probs = the vocabulary size from /v1/models" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::vector<json> steps;
  std::atomic<int> models{0};
  srv->Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    ++models;
    res.set_content(R"({"object":"list","data":[{"id":"m","object":"model","owned_by":"llamacpp","meta":{"n_vocab":32000}}]})",
                    "application/json");
  });
  srv->Post("/completion", [&](const httplib::Request& req, httplib::Response& res) {
    json b = json::parse(req.body);
    steps.push_back(b);
    // Far down the list: exact only because every token is listed.
    const json one = json::parse(R"({"content":"x","completion_probabilities":[{"id":5,"token":"a","logprob":-0.1,"top_logprobs":[{"id":5,"token":"a","logprob":-0.1},{"id":9,"token":"z","logprob":-12.5}]}]})");
    if (!b["prompt"][0].is_array()) return res.set_content(one.dump(), "application/json");
    json all = json::array();
    for (std::size_t i = 0; i < b["prompt"].size(); ++i) {
      all.push_back(one);
      all.back()["index"] = i;
    }
    res.set_content(all.dump(), "application/json");
  });
  srv.start();
  auto o = fixture::options(srv.url(), server_preset::llamacpp);
  o.teacher_forcing_top_k = 0;
  openai_backend llm(o);
  CHECK(llm.capabilities().scoring_exact);
  scoring_request s;
  s.prompt = prompt::tokens({1, 2});
  s.continuation_token_ids = {9, 9, 9, 9, 9};
  auto sc = llm.score(s);
  REQUIRE(sc);
  // Positions go out as lists of prompts, as many per request as keep the answer's size bounded:
  // 2^16 alternatives over n_probs 32000 is 2 positions, so 5 positions are 3 requests.
  REQUIRE(steps.size() == 3);
  CHECK(steps[0]["n_probs"] == 32000);
  CHECK(steps[0]["prompt"] == json::array({json::array({1, 2}), json::array({1, 2, 9})}));
  CHECK(steps[1]["prompt"] == json::array({json::array({1, 2, 9, 9}), json::array({1, 2, 9, 9, 9})}));
  CHECK(steps[2]["prompt"] == json::array({1, 2, 9, 9, 9, 9}));  // one position left: one prompt
  CHECK_FALSE(sc->approximate);
  CHECK(sc->logprob == -62.5);
  CHECK(sc->usage.requests == 3);
  CHECK(sc->boundary == scoring_boundary::given_ids);
  CHECK(models.load() == 1);  // looked up once
}

TEST_CASE("llama.cpp generation asked for ids gets logprobs of 1 and returns only the ids" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  json seen;
  srv->Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = json::parse(req.body);
    res.set_content(R"({"choices":[{"index":0,"text":"Hi!","finish_reason":"length","logprobs":{"content":[
      {"id":15043,"token":"Hi","logprob":-1.0,"top_logprobs":[{"id":15043,"token":"Hi","logprob":-1.0}]},
      {"id":29991,"token":"!","logprob":-2.0,"top_logprobs":[{"id":29991,"token":"!","logprob":-2.0}]}]}}]})",
                    "application/json");
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::llamacpp));
  generation_request r;
  r.prompt = prompt::text("Q:");
  r.sampling.max_tokens = 2;
  r.sampling.return_token_ids = true;
  auto g = llm.generate(r);
  REQUIRE(g);
  CHECK(seen["logprobs"] == 1);
  CHECK_FALSE(seen.contains("return_tokens_as_token_ids"));
  CHECK(g->choices.at(0).token_ids == ids{15043, 29991});
  CHECK(g->choices.at(0).tokens.empty());  // logprobs were not asked for
}
