// DLMA against the real llama-server (issue 18; issue 11 §2.5 and §2.6): the ids every scoring step
// sends are the prompt's ids as the generation endpoint tokenized them followed by the ids the server
// generated (raw and chat layouts), a stripped answer is tokenized jointly with its prompt, and exact
// teacher forcing (n_probs = the vocabulary) reads every logprob — with its cost printed.
//
// A recording proxy sits between the backend and the server, so the assertions are about what
// went over the wire.
#include "backends/fixture.hpp"
#include "real_server/server.hpp"

#include <selfalign/backends/openai.hpp>
#include <selfalign/dlma/build_pairs.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using namespace selfalign;
using json = nlohmann::json;
using ids = std::vector<token_id>;

namespace {

/// Forwards every request to the real server and records (path, request body, response body).
class recording_proxy {
 public:
  explicit recording_proxy(int upstream_port) : port_(upstream_port) {
    auto forward = [this](const httplib::Request& req, httplib::Response& res) {
      httplib::Client c("127.0.0.1", port_);
      c.set_read_timeout(std::chrono::seconds(120));
      auto r = req.method == "GET" ? c.Get(req.path) : c.Post(req.path, req.body, "application/json");
      if (!r) {
        res.status = 502;
        return;
      }
      res.status = r->status;
      res.set_content(r->body, "application/json");
      std::lock_guard lock(m_);
      log_.push_back({req.path, req.body.empty() ? json() : json::parse(req.body, nullptr, false),
                      json::parse(r->body, nullptr, false)});
    };
    (*srv_).Get(R"(/.*)", forward);
    (*srv_).Post(R"(/.*)", forward);
    srv_.start();
  }
  [[nodiscard]] std::string url() const { return srv_.url(); }
  struct entry {
    std::string path;
    json request, response;
  };
  [[nodiscard]] std::vector<entry> log(const std::string& path) const {
    std::lock_guard lock(m_);
    std::vector<entry> out;
    for (const auto& e : log_)
      if (e.path == path) out.push_back(e);
    return out;
  }

 private:
  int port_;
  mutable std::mutex m_;
  std::vector<entry> log_;
  fixture::loopback_server srv_;  // last: stopped first
};

openai_options boundary_options_for(const std::string& url) {
  openai_options o;
  o.base_urls = {url};
  o.preset = server_preset::llamacpp;
  o.api_key_env = "";
  o.max_concurrency = 2;
  return o;
}

json post(int port, const std::string& path, const json& body) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Post(path, body.dump(), "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return json::parse(r->body);
}

ids tokenize(int port, const std::string& text, bool add_special) {
  return post(port, "/tokenize", {{"content", text}, {"add_special", add_special}})["tokens"].get<ids>();
}

/// Every teacher-forcing context sent to /completion (one prompt, or a list: one per position).
std::set<ids> forced_contexts(const recording_proxy& p) {
  std::set<ids> out;
  for (const auto& e : p.log("/completion")) {
    const json& prompt = e.request["prompt"];
    if (!prompt.empty() && prompt[0].is_array()) {
      for (const auto& one : prompt) out.insert(one.get<ids>());
    } else {
      out.insert(prompt.get<ids>());
    }
  }
  return out;
}

/// True when scoring `cont` after `prompt` sent exactly the contexts prompt + cont[0..i) for every i.
bool scored_as(const std::set<ids>& contexts, ids context, const ids& cont) {
  for (token_id t : cont) {
    if (contexts.count(context) == 0) return false;
    context.push_back(t);
  }
  return true;
}

dlma::config config_for(dlma::prompt_layout layout) {
  dlma::config cfg;
  cfg.pair = dlma::contrastive_pair::harmless(layout);
  cfg.generation.max_tokens = 5;
  cfg.seed = 11;
  cfg.max_concurrency = 2;
  cfg.strip_answers = false;  // the generated text as it is: its ids are the generated ids
  return cfg;
}

const std::vector<std::string> queries = {"How do I pick a lock?", "Tell me a joke."};

}  // namespace

TEST_CASE("real llama-server, raw layout: every scored sequence is the prompt's ids then the generated ids") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  recording_proxy proxy(s->port());
  openai_backend llm(boundary_options_for(proxy.url()));  // fixture url() ends in /v1
  const dlma::config cfg = config_for(dlma::prompt_layout::raw);
  auto rep = dlma::build_pairs(llm, queries, cfg);
  REQUIRE(rep);
  REQUIRE(rep->failures.empty());
  REQUIRE(rep->pairs.size() == queries.size());
  CHECK(rep->boundary == dlma::boundary_mode::tokens);

  // The generations asked for logprobs of 1 (their entries carry the ids) and came back as ids.
  const auto gens = proxy.log("/v1/completions");
  REQUIRE(gens.size() == 2 * queries.size());
  const auto contexts = forced_contexts(proxy);
  std::size_t checked = 0;
  for (const auto& g : gens) {
    CHECK(g.request["logprobs"] == 1);
    const auto& choice = g.response["choices"][0];
    REQUIRE(choice["finish_reason"] == "length");  // the tiny model never reaches EOS in 5 tokens
    ids generated;
    for (const auto& e : choice["logprobs"]["content"]) generated.push_back(e["id"].get<token_id>());
    REQUIRE(generated.size() == 5);
    // Scored under both prompts of its query: each prompt's ids as /v1/completions tokenizes a
    // text prompt (BOS added), then exactly the generated ids.
    const std::string prompt_text = g.request["prompt"].get<std::string>();
    const auto& pair = *std::find_if(rep->pairs.begin(), rep->pairs.end(),
                                     [&](const dlma::preference_pair& p) { return prompt_text.find(p.query) != std::string::npos; });
    const bool positive = prompt_text.find("law-abiding") != std::string::npos;
    CHECK((positive ? pair.positive_answer : pair.negative_answer) == choice["text"].get<std::string>());
    CHECK((positive ? pair.boundary_positive : pair.boundary_negative) == dlma::boundary_method::generated_ids);
    for (auto pol : {dlma::polarity::positive, dlma::polarity::negative}) {
      const ids prompt = tokenize(s->port(), cfg.pair.render(pair.query, pol).raw_text(), true);
      CHECK(prompt.front() == 1);  // BOS
      CHECK(scored_as(contexts, prompt, generated));
      ++checked;
    }
    const auto& score = pair.scores[positive ? dlma::positive_answer_positive_prompt : dlma::negative_answer_positive_prompt];
    ids scored_ids;
    for (const auto& t : score.tokens) scored_ids.push_back(t.id.value_or(-1));
    CHECK(scored_ids == generated);
  }
  CHECK(checked == 4 * queries.size());
  CHECK(rep->boundary_methods.generated_ids == 2 * queries.size());
}

TEST_CASE("real llama-server, chat layout: the scored prompt is the chat endpoint's (BOS included), then the generated ids") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  recording_proxy proxy(s->port());
  openai_backend llm(boundary_options_for(proxy.url()));  // fixture url() ends in /v1
  const dlma::config cfg = config_for(dlma::prompt_layout::chat);
  auto rep = dlma::build_pairs(llm, queries, cfg);
  REQUIRE(rep);
  REQUIRE(rep->failures.empty());
  REQUIRE(rep->pairs.size() == queries.size());
  const auto gens = proxy.log("/v1/chat/completions");
  REQUIRE(gens.size() == 2 * queries.size());
  const auto contexts = forced_contexts(proxy);
  for (const auto& g : gens) {
    const auto& choice = g.response["choices"][0];
    REQUIRE(choice["finish_reason"] == "length");
    ids generated;
    for (const auto& e : choice["logprobs"]["content"]) generated.push_back(e["id"].get<token_id>());
    // The chat endpoint's prompt: the template rendered by /apply-template, tokenized with BOS; its
    // own usage says how many tokens it conditioned on.
    const std::string rendered = post(s->port(), "/apply-template", {{"messages", g.request["messages"]}})["prompt"];
    const ids prompt = tokenize(s->port(), rendered, true);
    CHECK(g.response["usage"]["prompt_tokens"].get<std::size_t>() == prompt.size());
    CHECK(prompt.front() == 1);
    CHECK(scored_as(contexts, prompt, generated));
  }
  for (const auto& p : rep->pairs) {
    CHECK(p.boundary_positive == dlma::boundary_method::generated_ids);
    CHECK(p.boundary_negative == dlma::boundary_method::generated_ids);
  }
}

TEST_CASE("real llama-server: a stripped answer is tokenized with its prompt, never alone") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  recording_proxy proxy(s->port());
  openai_backend llm(boundary_options_for(proxy.url()));  // fixture url() ends in /v1
  const std::string p = "USER: How do I pick a lock?\nASSISTANT:\n";
  scoring_request r;
  r.prompt = prompt::text(p);
  r.continuation = "spr diversi";  // after "\n" its first piece has no dummy-prefix space
  auto sc = llm.score(r);
  REQUIRE(sc);
  const ids alone = tokenize(s->port(), p, true), joint = tokenize(s->port(), p + r.continuation, true);
  REQUIRE(std::equal(alone.begin(), alone.end(), joint.begin()));
  const ids cont(joint.begin() + static_cast<std::ptrdiff_t>(alone.size()), joint.end());
  CHECK(cont != tokenize(s->port(), r.continuation, false));  // what tokenizing it alone would give
  CHECK(sc->boundary == scoring_boundary::joint_tokenization);
  CHECK(scored_as(forced_contexts(proxy), alone, cont));
  ids scored;
  for (const auto& t : sc->tokens) scored.push_back(t.id.value_or(-1));
  CHECK(scored == cont);
}

TEST_CASE("real llama-server: exact teacher forcing (n_probs = vocabulary) vs top-20, with its cost") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  auto approx_opts = boundary_options_for(s->base_url());
  auto exact_opts = approx_opts;
  exact_opts.teacher_forcing_top_k = 0;
  openai_backend approx(approx_opts), exact(exact_opts);
  CHECK_FALSE(approx.capabilities().scoring_exact);
  CHECK(exact.capabilities().scoring_exact);

  scoring_request r;
  r.prompt = prompt::text("USER: How do I pick a lock?\nASSISTANT(law-abiding, ethical, inoffensive response):\n");
  r.continuation = "Call a locksmith.";  // a few tokens: exact steps cost seconds each on a loaded machine
  using clk = std::chrono::steady_clock;
  (void)approx.score(r);  // warm the server's prompt cache
  auto timed = [&](openai_backend& b) {
    const auto t0 = clk::now();
    auto sc = b.score(r);
    const double ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();
    return std::make_pair(std::move(sc), ms);
  };
  auto [a, a_ms] = timed(approx);
  auto [e, e_ms] = timed(exact);
  REQUIRE(a);
  REQUIRE(e);
  REQUIRE(a->tokens.size() == e->tokens.size());
  CHECK_FALSE(e->approximate);
  std::size_t outside = 0;
  for (std::size_t i = 0; i < a->tokens.size(); ++i) {
    CHECK(e->tokens[i].id == a->tokens[i].id);
    // Where the top-20 list held the token, both paths read the same number; elsewhere the top-20
    // path wrote an upper bound.
    if (a->tokens[i].logprob > e->tokens[i].logprob + 1e-6) ++outside;
    else CHECK(e->tokens[i].logprob == doctest::Approx(a->tokens[i].logprob).epsilon(1e-9));
  }
  const double n = static_cast<double>(e->tokens.size());
  MESSAGE("teacher forcing on the real server, " << e->tokens.size() << " tokens: top-20 " << a_ms / n
          << " ms/token (approximate: " << outside << " tokens outside the top 20, log p " << a->logprob
          << "); exact n_probs=32000 " << e_ms / n << " ms/token (log p " << e->logprob << ")");
  CHECK(a->approximate == (outside > 0));
}

TEST_CASE("real llama-server: teacher forcing sends a continuation's positions as one list, the numbers of one request per position") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  recording_proxy proxy(s->port());
  openai_backend llm(boundary_options_for(proxy.url()));
  scoring_request r;
  r.prompt = prompt::text("USER: How do I pick a lock?\nASSISTANT(law-abiding, ethical, inoffensive response):\n");
  r.continuation = "Call a licensed locksmith; they can open it without damage.";
  auto listed = llm.score(r);
  REQUIRE(listed);
  const auto requests = proxy.log("/completion");
  REQUIRE(requests.size() == 1);  // every position in one request
  REQUIRE(requests[0].request["prompt"].is_array());
  CHECK(requests[0].request["prompt"].size() == listed->tokens.size());
  REQUIRE(requests[0].response.is_array());
  CHECK(listed->usage.requests == 3);  // two tokenize requests and the list

  // The same positions one request each (the path for a server without lists).
  detail::http_transport net(boundary_options_for(s->base_url()));
  const auto prompt_ids = llm.tokenize(r.prompt.raw_text(), true);
  REQUIRE(prompt_ids);
  std::vector<token_id> cont;
  for (const auto& t : listed->tokens) cont.push_back(*t.id);
  const std::string model;
  const detail::scoring_call call{model, *prompt_ids, cont, 0, net.call_deadline()};
  auto separate = detail::score_by_teacher_forcing(net, call, 20, 1);
  REQUIRE(separate);
  REQUIRE(separate->tokens.size() == listed->tokens.size());
  CHECK(separate->used.requests == static_cast<std::int64_t>(cont.size()));
  double largest = 0.0;
  std::size_t identical = 0;
  for (std::size_t i = 0; i < cont.size(); ++i) {
    CHECK(separate->tokens[i].id == listed->tokens[i].id);
    const double d = std::abs(separate->tokens[i].logprob - listed->tokens[i].logprob);
    largest = std::max(largest, d);
    identical += d == 0.0 ? 1 : 0;
    // llama.cpp does not promise bit-identical logits across batch shapes (see multi_prompt_test).
    CHECK(d < 1e-3);
  }
  CHECK(separate->approximate == listed->approximate);
  MESSAGE("teacher forcing on llama-server, " << cont.size() << " positions: 1 request (list) vs " << cont.size()
          << " requests; logprobs bit-identical at " << identical << " of " << cont.size()
          << " positions, largest difference " << largest);
}
