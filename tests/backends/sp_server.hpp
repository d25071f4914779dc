// A vLLM-dialect loopback server whose model has a SentencePiece-like tokenizer, for the tests of
// where the prompt/answer boundary falls when scoring (issue 18).
//
// Tokenizer: spaces are written "▁"; a dummy-prefix "▁" goes before the text (after leading
// special tokens); "<s>" in the text is the BOS token; then greedy longest match over the vocab,
// with byte fallback <0xNN> for what no piece covers. So "iennuous" alone is "▁i enn uous", while
// after "\n" inside a longer text it is "i enn uous": tokenizing an answer alone differs from
// tokenizing it with its prompt, as on LLaMA-2.
//
// Model: log p(t | ctx) is a softmax over the whole vocab of logits hashed from (all of ctx, t),
// exact and cheap, so a test can recompute any score from logprob(). Generation picks an answer by
// a marker in the prompt text, returns the ids of its joint tokenization after the prompt (or a
// deliberately non-canonical segmentation), cut at max_tokens ("length"), else ends with EOS
// ("stop"; the EOS id is among the returned ids, the text leaves it out).
//
// Dialect: /v1/completions (text or id prompts; logprobs legacy arrays, `return_tokens_as_token_ids`,
// `return_token_ids` adds choice `token_ids` when `new_vllm`; `prompt_logprobs` for scoring),
// /v1/chat/completions (template "<s>[SYS] s\n[USER] u\n[ASSISTANT]\n"), /tokenize with `prompt` or
// `messages` (+ add_generation_prompt, continue_final_message, add_special_tokens), /v1/models.
#pragma once

#include "fixture.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sp {

using json = nlohmann::json;
using id_t = selfalign::token_id;

inline const std::string space = "\xe2\x96\x81";  // ▁
constexpr id_t unk = 0, bos = 1, eos = 2, byte0 = 3;

class tokenizer {
 public:
  tokenizer() {
    pieces_ = {"<unk>", "<s>", "</s>"};
    for (int b = 0; b < 256; ++b) pieces_.push_back(fmt::format("<0x{:02X}>", b));
    for (const char* w : {"USER", "ASSISTANT", "How", "do", "I", "pick", "a", "lock", "law", "abiding", "ethical", "inoffensive",
                          "response", "illegal", "unethical", "toxic", "i", "enn", "uous", "Fig", "Call", "locksmith", "it",
                          "is", "safe", "Sure", "break", "the", "door", "Just", "SYS", "You", "are", "helpful", "harmful",
                          "answers", "lawful", "unlawful", "Open", "key", "Kick", "Use"}) {
      add(w);
      add(space + w);
    }
    for (const char* p : {":", "?", ".", ",", "(", ")", "-", "[", "]", "'", "(law", "):", space.c_str()}) add(p);
  }
  [[nodiscard]] std::size_t size() const { return pieces_.size(); }
  [[nodiscard]] const std::string& piece(id_t id) const { return pieces_.at(static_cast<std::size_t>(id)); }

  /// Token ids of `text`; BOS first when add_special.
  [[nodiscard]] std::vector<id_t> encode(const std::string& text, bool add_special) const {
    std::vector<id_t> out;
    if (add_special) out.push_back(bos);
    std::size_t i = 0;
    while (text.compare(i, 3, "<s>") == 0) {
      out.push_back(bos);
      i += 3;
    }
    std::string norm = space;  // the dummy prefix
    for (; i < text.size(); ++i) {
      if (text.compare(i, 3, "<s>") == 0) {  // a special inside: flush what came before
        encode_normalized(norm, out);
        norm.clear();
        out.push_back(bos);
        i += 2;
        continue;
      }
      norm += text[i] == ' ' ? space : std::string(1, text[i]);
    }
    encode_normalized(norm, out);
    return out;
  }
  /// Text of ids as a generated continuation: "▁" is a space, bytes are bytes, specials vanish.
  [[nodiscard]] std::string decode(const std::vector<id_t>& ids) const {
    std::string out;
    for (id_t id : ids) {
      if (id < byte0) continue;
      if (id < byte0 + 256) {
        out += static_cast<char>(id - byte0);
        continue;
      }
      // Appended piece by piece, not with std::string::replace, which GCC 12 -O3 flags with a
      // false -Wrestrict.
      const std::string p = piece(id);
      for (std::size_t from = 0;;) {
        const std::size_t at = p.find(space, from);
        out.append(p, from, at == std::string::npos ? std::string::npos : at - from);
        if (at == std::string::npos) break;
        out += ' ';
        from = at + space.size();
      }
    }
    return out;
  }

 private:
  void add(const std::string& p) {
    if (index_.count(p) == 0) {
      index_[p] = static_cast<id_t>(pieces_.size());
      pieces_.push_back(p);
    }
  }
  void encode_normalized(const std::string& s, std::vector<id_t>& out) const {
    std::size_t i = 0;
    while (i < s.size()) {
      std::size_t best = 0;
      id_t best_id = unk;
      for (const auto& [p, id] : index_)
        if (p.size() > best && s.compare(i, p.size(), p) == 0) {
          best = p.size();
          best_id = id;
        }
      if (best == 0) {
        out.push_back(byte0 + static_cast<unsigned char>(s[i]));
        ++i;
      } else {
        out.push_back(best_id);
        i += best;
      }
    }
  }
  std::vector<std::string> pieces_;
  std::map<std::string, id_t> index_;
};

struct options {
  bool new_vllm = true;        ///< honours `return_token_ids` (choice `token_ids`)
  bool ids_as_text = true;     ///< honours `return_tokens_as_token_ids`
  bool non_canonical = false;  ///< generate the answer's first word letter by letter (bytes)
};

struct answer_rule {
  std::string marker, text;
};

class server {
 public:
  explicit server(std::vector<answer_rule> rules, options o = {}) : rules_(std::move(rules)), o_(o) {
    srv_->Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"sp-model","object":"model","owned_by":"vllm","max_model_len":4096}]})",
                      "application/json");
    });
    handle("/v1/completions", [this](const json& b) { return completions(b); });
    handle("/v1/chat/completions", [this](const json& b) { return chat(b); });
    handle("/tokenize", [this](const json& b) { return tokenize(b); });
    srv_.start();
  }
  [[nodiscard]] std::string url() const { return srv_.url(); }
  [[nodiscard]] const tokenizer& tok() const { return tok_; }

  /// log p(next | ctx): the model's exact number.
  [[nodiscard]] double logprob(const std::vector<id_t>& ctx, id_t next) const {
    const auto logits = logits_after(ctx);
    double m = logits[0];
    for (double l : logits) m = std::max(m, l);
    double z = 0.0;
    for (double l : logits) z += std::exp(l - m);
    return logits[static_cast<std::size_t>(next)] - m - std::log(z);
  }
  /// Σ log p over `cont` after `prompt`.
  [[nodiscard]] double sequence_logprob(std::vector<id_t> ctx, const std::vector<id_t>& cont) const {
    double sum = 0.0;
    for (id_t t : cont) {
      sum += logprob(ctx, t);
      ctx.push_back(t);
    }
    return sum;
  }

  struct generated {
    std::vector<id_t> prompt_ids;  ///< what the model was conditioned on
    std::vector<id_t> ids;         ///< what it generated (EOS included when it stopped)
    std::string text;
    std::string finish;
  };
  [[nodiscard]] std::vector<generated> generations() const {
    std::lock_guard lock(m_);
    return gens_;
  }
  /// Token-id prompts of every scoring request (prompt_logprobs), in arrival order.
  [[nodiscard]] std::vector<std::vector<id_t>> scored() const {
    std::lock_guard lock(m_);
    return scored_;
  }
  [[nodiscard]] std::vector<json> bodies(const std::string& path) const {
    std::lock_guard lock(m_);
    std::vector<json> out;
    for (const auto& [p, b] : log_)
      if (p == path) out.push_back(b);
    return out;
  }

  /// The chat template: with the generation prompt, or continuing a final assistant message.
  [[nodiscard]] static std::string render(const json& messages, bool generation_prompt, bool continue_final) {
    std::string out = "<s>";
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const auto& m = messages[i];
      const std::string role = m.value("role", ""), content = m.value("content", "");
      if (role == "system") out += "[SYS] " + content + "\n";
      else if (role == "user") out += "[USER] " + content + "\n";
      else if (role == "assistant") {
        out += "[ASSISTANT]\n" + content;
        if (!(continue_final && i + 1 == messages.size())) out += "</s>";
      }
    }
    if (generation_prompt) out += "[ASSISTANT]\n";
    return out;
  }

 private:
  struct reply {
    int status = 200;
    json body;
  };
  template <class F>
  void handle(const std::string& path, F f) {
    srv_->Post(path, [this, path, f](const httplib::Request& req, httplib::Response& res) {
      json b = json::parse(req.body, nullptr, false);
      {
        std::lock_guard lock(m_);
        log_.emplace_back(path, b);
      }
      reply r = f(b);
      res.status = r.status;
      res.set_content(r.body.dump(), "application/json");
    });
  }
  static reply bad(const std::string& msg) {
    return {400, {{"error", {{"message", msg}, {"type", "BadRequestError"}, {"param", nullptr}, {"code", 400}}}}};
  }

  [[nodiscard]] std::vector<double> logits_after(const std::vector<id_t>& ctx) const {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (id_t id : ctx) h = (h ^ static_cast<std::uint64_t>(id)) * 0x100000001b3ULL;
    std::vector<double> out(tok_.size());
    for (std::size_t t = 0; t < out.size(); ++t) {
      std::uint64_t x = (h ^ (t * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
      x ^= x >> 29;
      out[t] = static_cast<double>(x % 10007) / 1000.0;  // logits in [0, 10)
    }
    return out;
  }

  generated generate(const std::vector<id_t>& prompt_ids, const std::string& prompt_text, int max_tokens) {
    std::string answer = "Fig";
    for (const auto& r : rules_)
      if (prompt_text.find(r.marker) != std::string::npos) {
        answer = r.text;
        break;
      }
    // The canonical ids: the joint tokenization after the prompt (text prompts) or after the
    // rendered chat prompt.
    std::vector<id_t> joint = tok_.encode(prompt_text + answer, false);
    std::vector<id_t> alone = tok_.encode(prompt_text, false);
    std::vector<id_t> ids(joint.begin() + static_cast<std::ptrdiff_t>(alone.size()), joint.end());
    if (o_.non_canonical && !ids.empty()) {  // spell the first piece byte by byte
      const std::string first = tok_.decode({ids.front()});
      std::vector<id_t> spelled;
      for (char c : first) spelled.push_back(byte0 + static_cast<unsigned char>(c));
      ids.erase(ids.begin());
      ids.insert(ids.begin(), spelled.begin(), spelled.end());
    }
    generated g;
    g.prompt_ids = prompt_ids;
    if (static_cast<int>(ids.size()) >= max_tokens) {
      ids.resize(static_cast<std::size_t>(max_tokens));
      g.finish = "length";
    } else {
      ids.push_back(eos);
      g.finish = "stop";
    }
    g.ids = ids;
    g.text = tok_.decode(ids);
    std::lock_guard lock(m_);
    gens_.push_back(g);
    return g;
  }

  json choice_for(const generated& g, const json& b, bool chat) const {
    const bool as_ids = o_.ids_as_text && b.value("return_tokens_as_token_ids", false);
    json choice = {{"index", 0}, {"finish_reason", g.finish}};
    if (chat) choice["message"] = {{"role", "assistant"}, {"content", g.text}};
    else choice["text"] = g.text;
    const bool want_lp = chat ? b.value("logprobs", false) : (b.contains("logprobs") && b["logprobs"].is_number_integer());
    if (want_lp) {
      std::vector<id_t> ctx = g.prompt_ids;
      json tokens = json::array(), values = json::array(), content = json::array();
      for (id_t t : g.ids) {
        const std::string name = as_ids ? "token_id:" + std::to_string(t) : tok_.decode({t});
        const double lp = logprob(ctx, t);
        tokens.push_back(name);
        values.push_back(lp);
        content.push_back({{"token", name}, {"logprob", lp}, {"top_logprobs", json::array()}});
        ctx.push_back(t);
      }
      if (chat) choice["logprobs"] = {{"content", content}};
      else choice["logprobs"] = {{"tokens", tokens}, {"token_logprobs", values}, {"top_logprobs", nullptr}, {"text_offset", nullptr}};
    } else {
      choice["logprobs"] = nullptr;
    }
    if (o_.new_vllm && b.value("return_token_ids", false)) choice["token_ids"] = g.ids;
    return choice;
  }

  reply completions(const json& b) {
    if (!b.is_object() || !b.contains("prompt")) return bad("`prompt` is required");
    std::vector<id_t> ids;
    std::string text;
    if (b["prompt"].is_string()) {
      text = b["prompt"].get<std::string>();
      ids = tok_.encode(text, true);
    } else {
      ids = b["prompt"].get<std::vector<id_t>>();
    }
    if (b.contains("prompt_logprobs")) return prompt_logprobs(ids, b["prompt_logprobs"].get<int>());
    if (text.empty()) return bad("the sp server generates from text prompts only");
    const generated g = generate(ids, text, b.value("max_tokens", 16));
    return {200, {{"id", "cmpl-sp"}, {"object", "text_completion"}, {"model", "sp-model"}, {"choices", {choice_for(g, b, false)}},
                  {"usage", {{"prompt_tokens", ids.size()}, {"completion_tokens", g.ids.size()}, {"total_tokens", ids.size() + g.ids.size()}}}}};
  }

  reply chat(const json& b) {
    if (!b.is_object() || !b.contains("messages")) return bad("`messages` is required");
    const std::string text = render(b["messages"], true, false);
    const std::vector<id_t> ids = tok_.encode(text, false);  // vLLM: the template writes BOS
    const generated g = generate(ids, text, b.value("max_tokens", 16));
    return {200, {{"id", "chat-sp"}, {"object", "chat.completion"}, {"model", "sp-model"}, {"choices", {choice_for(g, b, true)}},
                  {"usage", {{"prompt_tokens", ids.size()}, {"completion_tokens", g.ids.size()}, {"total_tokens", ids.size() + g.ids.size()}}}}};
  }

  reply prompt_logprobs(const std::vector<id_t>& ids, int k) {
    {
      std::lock_guard lock(m_);
      scored_.push_back(ids);
    }
    json positions = json::array({nullptr});
    for (std::size_t i = 1; i < ids.size(); ++i) {
      const std::vector<id_t> ctx(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(i));
      json pos = json::object();
      pos[std::to_string(ids[i])] = {{"logprob", logprob(ctx, ids[i])}, {"rank", 1}, {"decoded_token", tok_.decode({ids[i]})}};
      (void)k;
      positions.push_back(std::move(pos));
    }
    json choice = {{"index", 0}, {"text", ""}, {"finish_reason", "length"}, {"logprobs", nullptr}, {"prompt_logprobs", positions}};
    return {200, {{"id", "cmpl-sp"}, {"object", "text_completion"}, {"model", "sp-model"}, {"choices", {choice}},
                  {"usage", {{"prompt_tokens", ids.size()}, {"completion_tokens", 0}, {"total_tokens", ids.size()}}}}};
  }

  reply tokenize(const json& b) {
    if (b.contains("messages")) {
      const std::string text = render(b["messages"], b.value("add_generation_prompt", true), b.value("continue_final_message", false));
      return {200, {{"tokens", tok_.encode(text, b.value("add_special_tokens", false))}}};
    }
    if (!b.contains("prompt") || !b["prompt"].is_string()) return bad("`prompt` or `messages` is required");
    return {200, {{"tokens", tok_.encode(b["prompt"].get<std::string>(), b.value("add_special_tokens", true))}}};
  }

  tokenizer tok_;
  std::vector<answer_rule> rules_;
  options o_;
  mutable std::mutex m_;
  std::vector<generated> gens_;
  std::vector<std::vector<id_t>> scored_;
  std::vector<std::pair<std::string, json>> log_;
  fixture::loopback_server srv_;  // last: stopped first, while the handlers' state still exists
};

}  // namespace sp
