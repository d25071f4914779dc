// selfalign CLI tests: sim_openai_server — serves any selfalign Generator (and, when it models
// them, ScoringGenerator and Tokenizer) over the vLLM dialect of the OpenAI API on 127.0.0.1, so
// that the CLI's HTTP path can be compared with its in-process (--backend simulated) path.
//
// Each HTTP request becomes exactly one call of the wrapped model (a prompt_logprobs request
// becomes one score() call per prompt position, see score_positions; a list of prompts one
// generate_multi call) and the answer goes back in the shape vLLM uses. Requests are counted per endpoint and every body is recorded.
//
// Token ids. vLLM's legacy logprobs arrays carry token TEXTS; ids come back only when the request
// asks: `return_tokens_as_token_ids: true` spells every token (and every top_logprobs key)
// "token_id:<id>", `return_token_ids: true` adds `token_ids` to each choice. The texts and the
// ids of the top alternatives are never both available in vLLM's shape. With
// `ids_in_logprobs` set (the default), the server answers completions logprobs in the entry
// shape {token, logprob, id, top_logprobs: [{token, logprob, id}]} that llama.cpp's server uses
// and wire.hpp reads, which carries both; with it unset the server is a faithful vLLM, and
// `always_token_ids` makes it answer every request as if it had asked `return_token_ids`.
//
// Faithful details: legacy top_logprobs maps are keyed by token text (colliding texts lose
// entries) and hold the sampled token besides the top k; the rank of a scored prompt token that
// is not among the model's top k is reported as k + 1 (vLLM knows the true rank).
#pragma once

#include <selfalign/any.hpp>
#include <selfalign/types.hpp>

#include <httplib.h>
#ifdef _res
#undef _res
#endif

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace cli_test {

struct sim_server_options {
  std::string model_id = "sim-model";  ///< the one model GET /v1/models lists
  std::string owned_by = "vllm";       ///< what `--server auto` probes by
  bool ids_in_logprobs = true;         ///< see the file comment
  bool always_token_ids = false;       ///< answer as if every request had asked `return_token_ids`
  int max_logprobs = 20;               ///< vLLM's --max-logprobs: larger requests get a 400
};

/// One recorded request.
struct sim_request {
  std::string endpoint;  ///< "POST /v1/completions", ...
  std::string body;
};

class sim_openai_server {
 public:
  explicit sim_openai_server(selfalign::any_generator model, sim_server_options options = {})
      : g_(std::move(model)), o_(std::move(options)) {
    server_.new_task_queue = [] { return new httplib::ThreadPool(32); };
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_max_count(100000);  // httplib closes a socket after 5 requests by default
    server_.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
      record("GET /v1/models", req.body);
      nlohmann::json m = {{"id", o_.model_id}, {"object", "model"}, {"owned_by", o_.owned_by}, {"max_model_len", 8192}};
      res.set_content(nlohmann::json{{"object", "list"}, {"data", {m}}}.dump(), "application/json");
    });
    post("/v1/chat/completions", [this](const nlohmann::json& b) { return chat(b); });
    post("/v1/completions", [this](const nlohmann::json& b) { return completions(b); });
    post("/tokenize", [this](const nlohmann::json& b) { return tokenize(b); });
    post("/detokenize", [this](const nlohmann::json& b) { return detokenize(b); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~sim_openai_server() {
    server_.stop();
    thread_.join();
  }
  sim_openai_server(const sim_openai_server&) = delete;
  sim_openai_server& operator=(const sim_openai_server&) = delete;

  [[nodiscard]] std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

  /// Requests received at one endpoint ("POST /v1/completions"), or at all of them ("").
  [[nodiscard]] int requests(const std::string& endpoint = "") const {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& r : log_) n += endpoint.empty() || r.endpoint == endpoint ? 1 : 0;
    return n;
  }
  [[nodiscard]] std::vector<sim_request> log() const {
    std::lock_guard lock(mutex_);
    return log_;
  }
  [[nodiscard]] std::vector<std::string> bodies(const std::string& endpoint) const {
    std::vector<std::string> out;
    for (const auto& r : log())
      if (r.endpoint == endpoint) out.push_back(r.body);
    return out;
  }
  /// Requests at `endpoint` whose body is identical to an earlier one there.
  [[nodiscard]] int repeated(const std::string& endpoint) const {
    std::set<std::string> seen;
    int n = 0;
    for (const auto& b : bodies(endpoint)) n += seen.insert(b).second ? 0 : 1;
    return n;
  }
  /// Error answers sent (status >= 400), with their messages.
  [[nodiscard]] std::vector<std::string> errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    log_.clear();
    errors_.clear();
  }

 private:
  using json = nlohmann::json;
  struct reply {
    int status = 200;
    json body;
  };

  template <class F>
  void post(const std::string& path, F handler) {
    const std::string endpoint = "POST " + path;
    server_.Post(path, [this, endpoint, handler](const httplib::Request& req, httplib::Response& res) {
      record(endpoint, req.body);
      auto body = json::parse(req.body, nullptr, false);
      reply r = body.is_object() ? handler(body) : bad("the request body is not a JSON object");
      if (r.status >= 400) {
        std::lock_guard lock(mutex_);
        errors_.push_back(endpoint + ": " + r.body["error"].value("message", ""));
      }
      res.status = r.status;
      res.set_content(r.body.dump(), "application/json");
    });
  }

  void record(const std::string& endpoint, const std::string& body) {
    std::lock_guard lock(mutex_);
    log_.push_back({endpoint, body});
  }

  // vLLM's error shape (since v0.10.1): code is the HTTP status.
  static reply bad(const std::string& message, int status = 400) {
    return {status, {{"error", {{"message", message}, {"type", status == 400 ? "BadRequestError" : "InternalServerError"},
                                {"param", nullptr}, {"code", status}}}}};
  }
  static reply failed(const selfalign::error& e) {
    const bool client = e.code == selfalign::errc::unsupported || e.code == selfalign::errc::invalid_argument;
    return bad(e.message, client ? 400 : 500);
  }

  // The sampling fields both endpoints share; vLLM's defaults where a field is absent.
  [[nodiscard]] std::optional<reply> read_sampling(const json& b, selfalign::sampling& s, bool chat) const {
    s.temperature = b.value("temperature", 1.0);
    s.top_p = b.value("top_p", 1.0);
    s.top_k = b.value("top_k", 0);
    if (s.top_k < 0) s.top_k = 0;  // vLLM: -1 disables
    s.max_tokens = b.contains("max_completion_tokens") ? b["max_completion_tokens"].get<int>() : b.value("max_tokens", 16);
    s.n = b.value("n", 1);
    if (b.contains("seed") && !b["seed"].is_null()) s.seed = b["seed"].get<std::uint64_t>();
    if (b.contains("stop")) {
      if (b["stop"].is_string()) s.stop = {b["stop"].get<std::string>()};
      else if (b["stop"].is_array()) s.stop = b["stop"].get<std::vector<std::string>>();
    }
    s.include_stop = b.value("include_stop_str_in_output", false);
    s.return_token_ids = b.value("return_token_ids", false) || o_.always_token_ids;
    if (b.contains("logit_bias") && b["logit_bias"].is_object())
      for (auto it = b["logit_bias"].begin(); it != b["logit_bias"].end(); ++it) s.logit_bias[std::stoi(it.key())] = it->get<double>();
    if (chat) {
      if (b.value("logprobs", false)) s.logprobs = b.value("top_logprobs", 0);
    } else if (b.contains("logprobs") && b["logprobs"].is_number_integer()) {
      s.logprobs = b["logprobs"].get<int>();
    }
    if (s.logprobs > o_.max_logprobs)
      return bad("Requested sample logprobs of " + std::to_string(s.logprobs) + ", which is greater than max allowed: " +
                 std::to_string(o_.max_logprobs));
    if (s.n < 1) return bad("n must be at least 1, got " + std::to_string(s.n));
    return std::nullopt;
  }

  static json usage_json(const selfalign::usage& u) {
    return {{"prompt_tokens", u.prompt_tokens}, {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  }

  reply chat(const json& b) {
    if (!b.contains("messages") || !b["messages"].is_array()) return bad("`messages` is required");
    selfalign::generation_request r;
    r.model = b.value("model", "");
    std::vector<selfalign::message> msgs;
    for (const auto& m : b["messages"]) msgs.push_back({m.value("role", ""), m.value("content", "")});
    r.prompt = selfalign::prompt::chat(std::move(msgs));
    if (auto e = read_sampling(b, r.sampling, true)) return *e;
    auto g = g_.generate(r);
    if (!g) return failed(g.error());
    json choices = json::array();
    for (std::size_t i = 0; i < g->choices.size(); ++i) {
      const auto& c = g->choices[i];
      json choice = {{"index", i}, {"message", {{"role", "assistant"}, {"content", c.text}}}, {"finish_reason", c.finish_reason}};
      if (r.sampling.logprobs >= 0) {
        json content = json::array();
        for (const auto& t : c.tokens) {
          json tops = json::array();
          for (const auto& a : t.top) tops.push_back({{"token", a.token}, {"logprob", a.logprob}});
          content.push_back({{"token", t.token}, {"logprob", t.logprob}, {"top_logprobs", tops}});
        }
        choice["logprobs"] = {{"content", content}};
      }
      choices.push_back(std::move(choice));
    }
    return {200, {{"id", "chatcmpl-sim"}, {"object", "chat.completion"}, {"model", model_name(r.model)},
                  {"choices", choices}, {"usage", usage_json(g->usage)}}};
  }

  // vLLM answers with the served model's name, whatever the wrapped model calls itself.
  [[nodiscard]] std::string model_name(const std::string& asked) const {
    return asked.empty() ? o_.model_id : asked;
  }

  // The prompts of a completions request that carries a list of them (vLLM's batch form: a list of
  // strings or a list of token-id lists), or nothing when it carries one prompt.
  static std::optional<std::vector<selfalign::prompt>> read_prompt_list(const json& p) {
    if (!p.is_array() || p.empty()) return std::nullopt;
    std::vector<selfalign::prompt> out;
    for (const auto& x : p) {
      if (x.is_string()) {
        out.push_back(selfalign::prompt::text(x.get<std::string>()));
      } else if (x.is_array() && !x.empty() && std::all_of(x.begin(), x.end(), [](const json& y) { return y.is_number_integer(); })) {
        out.push_back(selfalign::prompt::tokens(x.get<std::vector<selfalign::token_id>>()));
      } else {
        return std::nullopt;
      }
    }
    return out;
  }

  // The prompt of a completions request: text, or token ids.
  static std::optional<selfalign::prompt> read_prompt(const json& p) {
    if (p.is_string()) return selfalign::prompt::text(p.get<std::string>());
    if (p.is_array() && !p.empty() && std::all_of(p.begin(), p.end(), [](const json& x) { return x.is_number_integer(); }))
      return selfalign::prompt::tokens(p.get<std::vector<selfalign::token_id>>());
    return std::nullopt;
  }

  reply completions(const json& b) {
    if (!b.contains("prompt")) return bad("`prompt` is required");
    if (auto list = read_prompt_list(b["prompt"])) return completions_list(b, std::move(*list));
    auto pr = read_prompt(b["prompt"]);
    if (!pr) return bad("the sim server takes one prompt: a string or an array of token ids");
    if (b.contains("prompt_logprobs") && !b["prompt_logprobs"].is_null()) return prompt_logprobs(b, *pr);
    if (b.value("echo", false)) return bad("the sim server does not model echo (our client uses prompt_logprobs on vLLM)");
    selfalign::generation_request r;
    r.model = b.value("model", "");
    r.prompt = *pr;
    if (auto e = read_sampling(b, r.sampling, false)) return *e;
    const bool as_ids = b.value("return_tokens_as_token_ids", false);
    const bool choice_ids = b.value("return_token_ids", false) || o_.always_token_ids;
    auto g = g_.generate(r);
    if (!g) return failed(g.error());
    json choices = json::array();
    for (std::size_t i = 0; i < g->choices.size(); ++i) {
      const auto& c = g->choices[i];
      json choice = {{"index", i}, {"text", c.text}, {"finish_reason", c.finish_reason}};
      if (r.sampling.logprobs >= 0) choice["logprobs"] = logprobs_json(c, r.sampling.logprobs, as_ids);
      else choice["logprobs"] = nullptr;
      if (choice_ids) choice["token_ids"] = c.token_ids;
      choices.push_back(std::move(choice));
    }
    return {200, {{"id", "cmpl-sim"}, {"object", "text_completion"}, {"model", model_name(r.model)},
                  {"choices", choices}, {"usage", usage_json(g->usage)}}};
  }

  // A list of prompts, as vLLM answers it: one generate_multi call of the model (one request), the
  // choices prompt major (index = prompt * n + choice) and one usage summed over the prompts.
  reply completions_list(const json& b, std::vector<selfalign::prompt> prompts) {
    if (b.contains("prompt_logprobs") && !b["prompt_logprobs"].is_null()) return bad("the sim server scores one prompt at a time");
    if (b.value("echo", false)) return bad("the sim server does not model echo");
    std::vector<selfalign::generation_request> rs;
    for (auto& p : prompts) {
      selfalign::generation_request r;
      r.model = b.value("model", "");
      r.prompt = std::move(p);
      if (auto e = read_sampling(b, r.sampling, false)) return *e;
      rs.push_back(std::move(r));
    }
    const bool as_ids = b.value("return_tokens_as_token_ids", false);
    const bool choice_ids = b.value("return_token_ids", false) || o_.always_token_ids;
    auto all = g_.generate_multi(std::span<const selfalign::generation_request>(rs));
    if (!all) return failed(all.error());
    if (all->size() != rs.size()) return failed(selfalign::error(selfalign::errc::internal, "the model answered a list with a wrong count"));
    json choices = json::array();
    selfalign::usage total;
    std::size_t index = 0;
    for (std::size_t p = 0; p < all->size(); ++p) {
      const auto& g = (*all)[p];
      total += g.usage;
      for (const auto& c : g.choices) {
        json choice = {{"index", index++}, {"text", c.text}, {"finish_reason", c.finish_reason}};
        if (rs[p].sampling.logprobs >= 0) choice["logprobs"] = logprobs_json(c, rs[p].sampling.logprobs, as_ids);
        else choice["logprobs"] = nullptr;
        if (choice_ids) choice["token_ids"] = c.token_ids;
        choices.push_back(std::move(choice));
      }
    }
    return {200, {{"id", "cmpl-sim"}, {"object", "text_completion"}, {"model", model_name(rs.front().model)},
                  {"choices", choices}, {"usage", usage_json(total)}}};
  }

  [[nodiscard]] static std::string spelled(const std::string& text, std::optional<selfalign::token_id> id, bool as_ids) {
    return as_ids && id ? "token_id:" + std::to_string(*id) : text;
  }

  [[nodiscard]] json logprobs_json(const selfalign::completion& c, int k, bool as_ids) const {
    if (o_.ids_in_logprobs) {
      json content = json::array();
      for (const auto& t : c.tokens) {
        json tops = json::array();
        for (const auto& a : t.top) {
          json e = {{"token", spelled(a.token, a.id, as_ids)}, {"logprob", a.logprob}};
          if (a.id) e["id"] = *a.id;
          tops.push_back(std::move(e));
        }
        json e = {{"token", spelled(t.token, t.id, as_ids)}, {"logprob", t.logprob}, {"top_logprobs", tops}};
        if (t.id) e["id"] = *t.id;
        content.push_back(std::move(e));
      }
      return {{"content", content}};
    }
    // vLLM's legacy arrays. top_logprobs is an object keyed by token text (texts that collide
    // lose entries, as on vLLM), holding the top k plus the sampled token.
    json tokens = json::array(), values = json::array(), tops = json::array(), offsets = json::array();
    std::size_t offset = 0;
    for (const auto& t : c.tokens) {
      tokens.push_back(spelled(t.token, t.id, as_ids));
      values.push_back(t.logprob);
      json m = json::object();
      for (std::size_t i = 0; i < t.top.size() && static_cast<int>(i) < k; ++i)
        m[spelled(t.top[i].token, t.top[i].id, as_ids)] = t.top[i].logprob;
      m[spelled(t.token, t.id, as_ids)] = t.logprob;
      tops.push_back(std::move(m));
      offsets.push_back(offset);
      offset += t.token.size();
    }
    return {{"tokens", tokens}, {"token_logprobs", values}, {"top_logprobs", tops}, {"text_offset", offsets}};
  }

  // vLLM's prompt_logprobs: for every prompt position i > 0, log p(ids[i] | ids[0..i)) and the top
  // k alternatives, keyed by token id; position 0 is null. A prompt position is one score() call
  // with the tokens before it as the prompt: exact for an autoregressive model, and the only way
  // to serve it without knowing where the caller's continuation starts.
  reply prompt_logprobs(const json& b, const selfalign::prompt& pr) {
    if (!pr.is_tokens()) return bad("the sim server scores token-id prompts only (our client sends ids)");
    const int k = b["prompt_logprobs"].get<int>();
    if (k > o_.max_logprobs)
      return bad("Requested prompt logprobs of " + std::to_string(k) + ", which is greater than max allowed: " +
                 std::to_string(o_.max_logprobs));
    const auto& ids = pr.token_ids();
    const std::string model = b.value("model", "");
    json positions = json::array({nullptr});
    for (std::size_t i = 1; i < ids.size(); ++i) {
      selfalign::scoring_request s;
      s.model = model;
      s.prompt = selfalign::prompt::tokens(std::vector<selfalign::token_id>(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(i)));
      s.continuation_token_ids = {ids[i]};
      s.top_logprobs = k;
      auto sc = g_.score(s);
      if (!sc) return failed(sc.error());
      if (sc->tokens.size() != 1) return bad("the model scored " + std::to_string(sc->tokens.size()) + " tokens for one", 500);
      const auto& t = sc->tokens.front();
      json pos = json::object();
      int rank = static_cast<int>(t.top.size()) + 1;  // unknown beyond the top k: just past it
      for (std::size_t a = 0; a < t.top.size(); ++a) {
        if (!t.top[a].id) continue;
        if (*t.top[a].id == ids[i]) rank = static_cast<int>(a) + 1;
        pos[std::to_string(*t.top[a].id)] = {{"logprob", t.top[a].logprob}, {"rank", a + 1}, {"decoded_token", t.top[a].token}};
      }
      pos[std::to_string(ids[i])] = {{"logprob", t.logprob}, {"rank", rank}, {"decoded_token", t.token}};
      positions.push_back(std::move(pos));
    }
    // vLLM also generates max_tokens (our client asks 1); the answer is not read when scoring.
    json choice = {{"index", 0}, {"text", ""}, {"finish_reason", "length"}, {"logprobs", nullptr}, {"prompt_logprobs", positions}};
    const auto n = static_cast<std::int64_t>(ids.size());
    return {200, {{"id", "cmpl-sim"}, {"object", "text_completion"}, {"model", model.empty() ? o_.model_id : model},
                  {"choices", {choice}}, {"usage", {{"prompt_tokens", n}, {"completion_tokens", 0}, {"total_tokens", n}}}}};
  }

  // POST /tokenize: {"prompt", "add_special_tokens"} or {"messages", "add_generation_prompt",
  // "continue_final_message"}. The sim models have no chat template: messages render as
  // prompt::flatten() (contents, "\n"-joined) with an empty generation prompt, so a final assistant
  // message being continued follows the other messages directly.
  reply tokenize(const json& b) {
    std::string text;
    bool special = b.value("add_special_tokens", true);
    if (b.contains("messages")) {
      std::vector<selfalign::message> msgs;
      for (const auto& m : b["messages"]) msgs.push_back({m.value("role", ""), m.value("content", "")});
      std::string continued;
      if (b.value("continue_final_message", false) && !msgs.empty() && msgs.back().role == "assistant") {
        continued = msgs.back().content;
        msgs.pop_back();
      }
      text = selfalign::prompt::chat(std::move(msgs)).flatten() + continued;
    } else if (b.contains("prompt") && b["prompt"].is_string()) {
      text = b["prompt"].get<std::string>();
    } else {
      return bad("`prompt` or `messages` is required");
    }
    auto ids = g_.tokenize(text, special);
    if (!ids) return failed(ids.error());
    return {200, {{"count", ids->size()}, {"max_model_len", 8192}, {"tokens", *ids}}};
  }

  reply detokenize(const json& b) {
    if (!b.contains("tokens") || !b["tokens"].is_array()) return bad("`tokens` is required");
    const auto ids = b["tokens"].get<std::vector<selfalign::token_id>>();
    auto text = g_.detokenize(ids);
    if (!text) return failed(text.error());
    return {200, {{"prompt", *text}}};
  }

  selfalign::any_generator g_;
  sim_server_options o_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<sim_request> log_;
  std::vector<std::string> errors_;
};

}  // namespace cli_test
