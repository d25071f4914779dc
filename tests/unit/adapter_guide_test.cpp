// docs/adapters.md's complete adapter for an in-process engine, and its unit test, run here. The
// text between each //[adapters_md_... marker and //] is quoted in docs/adapters.md character for
// character (tests/unit/docs_test.cpp checks it).
#include <doctest/doctest.h>

//[adapters_md_adapter
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Stands in for your engine (a llama.cpp context, an ONNX session, ...): a vocabulary, a
// tokenizer and a next-token distribution. Like most engine contexts it is not thread-safe.
class toy_engine {
 public:
  static constexpr int eos = 0;
  [[nodiscard]] const std::string& piece(int id) const { return vocab_.at(static_cast<std::size_t>(id)); }
  [[nodiscard]] int size() const { return static_cast<int>(vocab_.size()); }
  // Greedy longest match; characters outside the vocabulary are skipped.
  [[nodiscard]] std::vector<int> tokenize(std::string_view text) const {
    std::vector<int> ids;
    for (std::size_t i = 0; i < text.size();) {
      int best = -1;
      for (int id = 1; id < size(); ++id)
        if (text.substr(i).starts_with(piece(id)) && (best < 0 || piece(id).size() > piece(best).size())) best = id;
      if (best < 0) ++i;
      else {
        ids.push_back(best);
        i += piece(best).size();
      }
    }
    return ids;
  }
  // log p(next token | context) for every id: each token strongly prefers the one after it.
  [[nodiscard]] std::vector<double> next_logprobs(std::span<const int> context) const {
    const int want = context.empty() ? 1 : (context.back() + 1) % size();
    std::vector<double> lp(vocab_.size(), std::log(0.1 / (size() - 1)));
    lp[static_cast<std::size_t>(want)] = std::log(0.9);
    return lp;
  }

 private:
  std::vector<std::string> vocab_{"</s>", "Hello", "!", " How", " can", " I", " help", "?"};
};

// The adapter: what selfalign sees of the engine.
class toy_adapter {
 public:
  selfalign::result<selfalign::generation> generate(const selfalign::generation_request& req) {
    if (req.prompt.is_tokens())
      return selfalign::fail(selfalign::errc::unsupported, "toy_adapter: token-id prompts are not supported");
    // A chat prompt would go through the engine's chat template; this engine has none.
    const std::vector<int> prompt = engine_.tokenize(req.prompt.flatten());
    selfalign::generation g;
    for (int i = 0; i < std::max(1, req.sampling.n); ++i) {  // exactly n choices
      std::mt19937_64 rng(req.sampling.seed.value_or(0) + static_cast<std::uint64_t>(i));
      g.choices.push_back(sample(prompt, req.sampling, rng));
      g.usage.completion_tokens += static_cast<std::int64_t>(g.choices.back().token_ids.size());
    }
    g.usage.prompt_tokens = static_cast<std::int64_t>(prompt.size());
    g.usage.requests = 1;
    g.model = "toy";
    return g;
  }

  selfalign::result<std::vector<selfalign::token_id>> tokenize(std::string_view text, bool /*add_special*/) {
    const auto ids = engine_.tokenize(text);
    return std::vector<selfalign::token_id>(ids.begin(), ids.end());
  }
  selfalign::result<std::string> detokenize(std::span<const selfalign::token_id> ids) {
    std::string text;
    for (auto id : ids) {
      if (id < 0 || id >= engine_.size()) return selfalign::fail(selfalign::errc::invalid_argument, "toy_adapter: unknown token id");
      if (id != toy_engine::eos) text += engine_.piece(id);
    }
    return text;
  }

  selfalign::capabilities capabilities() const {
    selfalign::capabilities c;         // the full set; now switch off what this engine lacks
    c.max_top_logprobs = 8;            // its whole vocabulary
    c.max_concurrent_calls = 1;        // one engine context: one call at a time (also the default)
    return c;                          // raw text, chat, top_k, include_stop, seed, n: all honoured
  }

 private:
  selfalign::completion sample(std::vector<int> context, const selfalign::sampling& s, std::mt19937_64& rng) const {
    selfalign::completion c;
    for (int step = 0; step < s.max_tokens; ++step) {
      const std::vector<double> lp = engine_.next_logprobs(context);
      std::vector<int> order(lp.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return lp[static_cast<std::size_t>(a)] > lp[static_cast<std::size_t>(b)]; });
      const int k = s.top_k > 0 ? std::min(s.top_k, engine_.size()) : engine_.size();
      int id = order[0];  // temperature 0: greedy
      if (s.temperature > 0) {
        std::vector<double> w;
        for (int j = 0; j < k; ++j) w.push_back(std::exp(lp[static_cast<std::size_t>(order[static_cast<std::size_t>(j)])] / s.temperature));
        id = order[static_cast<std::size_t>(std::discrete_distribution<int>(w.begin(), w.end())(rng))];
      }
      if (s.logprobs >= 0) {  // the chosen token's logprob, plus the top `logprobs` alternatives
        selfalign::token_logprob t{engine_.piece(id), id, lp[static_cast<std::size_t>(id)], {}};
        for (int j = 0; j < std::min(s.logprobs, engine_.size()); ++j) {
          const int alt = order[static_cast<std::size_t>(j)];
          t.top.push_back({engine_.piece(alt), alt, lp[static_cast<std::size_t>(alt)]});
        }
        c.tokens.push_back(std::move(t));
      }
      if (id == toy_engine::eos) {  // EOS: listed in tokens (when asked), never in the text
        c.finish_reason = "stop";
        return c;
      }
      c.text += engine_.piece(id);
      c.token_ids.push_back(id);
      context.push_back(id);
      for (const std::string& stop : s.stop) {
        if (!stop.empty() && c.text.ends_with(stop)) {
          if (!s.include_stop) c.text.resize(c.text.size() - stop.size());
          c.finish_reason = "stop";
          return c;
        }
      }
    }
    c.finish_reason = "length";  // cut at max_tokens
    return c;
  }

  toy_engine engine_;
};

static_assert(selfalign::Generator<toy_adapter> && selfalign::Tokenizer<toy_adapter>);
//]

//[adapters_md_test
#include <doctest/doctest.h>
#include <selfalign/batch.hpp>

TEST_CASE("toy_adapter answers what was asked") {
  toy_adapter model;
  selfalign::generation_request req;
  req.prompt = selfalign::prompt::text("Hello");
  req.sampling.temperature = 0.0;
  req.sampling.logprobs = 3;
  auto g = model.generate(req);
  REQUIRE(g);
  REQUIRE(g->choices.size() == 1);
  const selfalign::completion& c = g->choices[0];
  CHECK(c.text == "! How can I help?");                 // greedy, then EOS
  CHECK(c.finish_reason == "stop");
  REQUIRE(c.tokens.size() == 7);                        // six pieces and the EOS entry
  CHECK(c.tokens.back().token == "</s>");
  CHECK(c.tokens[0].top.size() == 3);
  CHECK(c.tokens[0].top[0].token == "!");
  CHECK(c.tokens[0].logprob == doctest::Approx(std::log(0.9)));

  req.sampling.max_tokens = 2;                          // cut at the limit
  req.sampling.logprobs = -1;
  CHECK(model.generate(req)->choices[0].finish_reason == "length");
  CHECK(model.generate(req)->choices[0].tokens.empty());  // logprobs only when asked

  req.sampling.max_tokens = 256;
  req.sampling.stop = {" can"};                         // a stop string, kept when include_stop
  CHECK(model.generate(req)->text() == "! How");
  req.sampling.include_stop = true;
  CHECK(model.generate(req)->text() == "! How can");

  req.sampling.n = 4;                                   // n choices, sampled with a seed
  req.sampling.temperature = 1.0;
  req.sampling.seed = 7;
  auto a = model.generate(req), b = model.generate(req);
  REQUIRE(a->choices.size() == 4);
  CHECK(*a == *b);                                      // same seed, same answer

  // selfalign's own checks accept every answer, and the capabilities say what it offers.
  auto checked = selfalign::generate_batch(model, std::span<const selfalign::generation_request>(&req, 1));
  CHECK(checked[0].has_value());
  CHECK(selfalign::capabilities_of(model).max_top_logprobs == 8);
}
//]
