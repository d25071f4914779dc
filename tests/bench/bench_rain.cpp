// bench_rain: requests and wall time per generated token, RAIN vs vanilla greedy decoding, on a
// simulated model that charges a latency per request and per generated token.
//
//   ./build/tests/bench/bench_rain [request_ms] [token_ms]      (defaults: 4 and 1)
//
// The simulated server decodes the n choices of one request in parallel (as a batching server
// does), so a request costs request_ms + token_ms * (tokens of its longest choice). RAIN's figures
// are shown with speculation (config::speculation_depth = 2, opt-in; the headline figure), with its
// defaults (caches on, concurrency 4, no speculation), without the caches, and at concurrency 1.
// The simulated server takes a list of prompts in one request, as vLLM, SGLang and llama.cpp do
// (the self-evaluation's two option orders go out as one request: generate_multi); two rows show
// the same decodes on a server that takes one prompt per request.
#include <selfalign/batch.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/rain/rain.hpp>
#include <selfalign/testing/rain_sim.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

using namespace selfalign;

namespace {

// Splits a sentence into word tokens (a leading space stays with its word; punctuation apart).
std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == ',' || c == '.' || c == '?' || c == ':' || c == ';') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      if (c != ' ') {
        out.emplace_back(1, c);
        continue;
      }
    }
    cur += c;
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

struct prompt_case {
  std::string query;
  std::string best;
  std::string other;
};

const std::vector<prompt_case>& harmless_cases() {
  static const std::vector<prompt_case> cases{
      {"How do plants make food?",
       "Plants make food by photosynthesis, using sunlight, water and carbon dioxide to build sugars in their leaves, "
       "and they release oxygen as a by-product.",
       "Through photosynthesis in the leaves."},
      {"Why is the sky blue?",
       "The sky looks blue because air molecules scatter short blue wavelengths of sunlight more than long red ones, "
       "so blue light reaches us from every direction.",
       "Because of Rayleigh scattering."},
      {"How can I sleep better?",
       "Keep a regular schedule, avoid caffeine late in the day, keep the bedroom dark and cool, and put screens "
       "away an hour before bed.",
       "Go to bed at the same time every night."},
      {"What is a prime number?",
       "A prime number is a whole number greater than one whose only divisors are one and itself, for example two, "
       "three, five and seven.",
       "A number with exactly two divisors."},
  };
  return cases;
}

testing::rain_sim_model make_model(std::chrono::microseconds req, std::chrono::microseconds tok, bool multi_prompt) {
  testing::rain_sim_options o;
  o.multi_prompt = multi_prompt;
  o.request_latency = req;
  o.token_latency = tok;
  o.harmful_markers = {"bomb"};
  testing::rain_sim_model m(o);
  for (const auto& c : harmless_cases()) m.script(c.query, {{words(c.best), 0.85}, {words(c.other), 0.15}});
  return m;
}

struct totals {
  std::int64_t requests = 0;
  std::int64_t tokens = 0;      // response tokens
  std::int64_t charged = 0;     // tokens the latency model charged
  int iterations = 0;
  int rewinds = 0;
  double wall_ms = 0;
};

totals run_vanilla(testing::rain_sim_model& m, const rain::config& cfg) {
  totals t;
  m.reset_counters();
  for (const auto& c : harmless_cases()) {
    auto r = rain::decode_vanilla(m, c.query, cfg);
    if (!r || !r->ok()) std::abort();
    t.tokens += r->stats.response_tokens;
    t.wall_ms += r->stats.wall_ms;
  }
  t.requests = m.requests();
  t.charged = m.charged_tokens();
  return t;
}

totals run_rain(testing::rain_sim_model& m, const rain::config& cfg, std::string* first = nullptr) {
  totals t;
  m.reset_counters();
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  for (const auto& c : harmless_cases()) {
    auto r = rain::decode(m, judge, emb, c.query, cfg);
    if (!r || !r->ok()) {
      fmt::print(stderr, "rain failed: {}\n", r ? r->error->describe() : r.error().describe());
      std::abort();
    }
    if (first && first->empty()) *first = r->response;
    t.tokens += r->stats.response_tokens;
    t.iterations += r->stats.inner_iterations;
    t.rewinds += r->stats.rewinds;
    t.wall_ms += r->stats.wall_ms;
  }
  t.requests = m.requests();
  t.charged = m.charged_tokens();
  return t;
}

void row(const char* name, const totals& t, const totals& van) {
  const double per_tok = t.wall_ms / static_cast<double>(t.tokens);
  const double van_per_tok = van.wall_ms / static_cast<double>(van.tokens);
  fmt::print("{:<34} {:>6} {:>8.2f} {:>9.2f} {:>9.2f} {:>7.2f}x {:>6} {:>5}\n", name, t.tokens,
             static_cast<double>(t.requests) / static_cast<double>(t.tokens),
             static_cast<double>(t.charged) / static_cast<double>(t.tokens), per_tok, per_tok / van_per_tok,
             t.iterations, t.rewinds);
}

// Goal 2 of the performance issue: a dataset of 16 prompts decoded at --concurrency 16, RAIN as
// the CLI runs it (each decode up to config.max_concurrency calls, 16 / that many prompts at once)
// against vanilla decoding of the same prompts at concurrency 16. Returns RAIN's wall time / vanilla's.
double dataset_ratio(testing::rain_sim_model& m, const rain::config& cfg) {
  std::vector<rain::input> inputs;
  for (int copy = 0; copy < 4; ++copy)
    for (const auto& c : harmless_cases()) inputs.emplace_back(c.query + " (copy " + std::to_string(copy) + ")");
  const std::size_t concurrency = 16;
  auto t0 = std::chrono::steady_clock::now();
  auto van = parallel_map(inputs.size(), concurrency, [&](std::size_t i) { return rain::decode_vanilla(m, inputs[i], cfg); });
  const double van_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  rain::config c = cfg;
  c.max_concurrency = std::min<std::size_t>(cfg.max_concurrency, concurrency);
  const std::size_t prompts_at_once = std::max<std::size_t>(1, concurrency / c.max_concurrency);
  t0 = std::chrono::steady_clock::now();
  auto all = rain::decode_batch(m, judge, emb, std::span<const rain::input>(inputs), c, batch_options{prompts_at_once, {}});
  const double rain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& r : van)
    if (!r || !r->ok()) std::abort();
  for (const auto& r : all)
    if (!r || !r->ok()) std::abort();
  fmt::print("dataset of {} prompts at concurrency {}: vanilla {:.2f} s, rain {:.2f} s ({} prompts at once x {} calls each): "
             "{:.2f}x\n",
             inputs.size(), concurrency, van_s, rain_s, prompts_at_once, c.max_concurrency, rain_s / van_s);
  return rain_s / van_s;
}

}  // namespace

int main(int argc, char** argv) {
  const double req_ms = argc > 1 ? std::atof(argv[1]) : 4.0;
  const double tok_ms = argc > 2 ? std::atof(argv[2]) : 1.0;
  const auto req = std::chrono::microseconds(static_cast<long>(req_ms * 1000));
  const auto tok = std::chrono::microseconds(static_cast<long>(tok_ms * 1000));
  auto m = make_model(req, tok, true);
  auto one_prompt = make_model(req, tok, false);  // a server without prompt lists

  rain::config cfg;  // defaults: caches on, concurrency 4; plus speculation (opt-in): the headline
  cfg.speculation_depth = 2;
  const totals van = run_vanilla(m, cfg);
  std::string sample;
  const totals rain_default = run_rain(m, cfg, &sample);
  rain::config nospec = cfg;
  nospec.speculation_depth = 0;
  const totals rain_nospec = run_rain(m, nospec);
  rain::config nocache = cfg;
  nocache.cache_evaluations = false;
  nocache.cache_distributions = false;
  const totals rain_nocache = run_rain(m, nocache);
  rain::config seq = cfg;
  seq.max_concurrency = 1;
  const totals rain_seq = run_rain(m, seq);
  rain::config seq_nocache = nocache;
  seq_nocache.max_concurrency = 1;
  const totals rain_seq_nocache = run_rain(m, seq_nocache);
  const totals rain_single = run_rain(one_prompt, cfg);
  const totals rain_single_nospec = run_rain(one_prompt, nospec);

  fmt::print("simulated latency: {} ms per request + {} ms per generated token; {} harmless prompts\n", req_ms, tok_ms,
             harmless_cases().size());
  fmt::print("first RAIN response: {}\n\n", sample);
  fmt::print("{:<34} {:>6} {:>8} {:>9} {:>9} {:>8} {:>6} {:>5}\n", "decoder", "tokens", "req/tok", "ctok/tok",
             "ms/tok", "vs van", "iters", "rewnd");
  row("vanilla greedy (1 request)", van, van);
  row("rain (speculation 2, concurrency 4)", rain_default, van);
  row("rain (defaults: no speculation)", rain_nospec, van);
  row("rain (cache off, speculation 2)", rain_nocache, van);
  row("rain (cache on, concurrency 1)", rain_seq, van);
  row("rain (cache off, concurrency 1)", rain_seq_nocache, van);
  row("rain, one prompt/request (spec. 2)", rain_single, van);
  row("rain, one prompt/request (no spec.)", rain_single_nospec, van);
  fmt::print("\nreq/tok: requests per response token; ctok/tok: tokens charged by the latency model per response\n"
             "token; vs van: wall time per response token relative to vanilla decoding. Every row but the last two\n"
             "sends the self-evaluation's two option orders as one request (a list of prompts).\n\n");
  const double dataset = dataset_ratio(m, cfg);
  fmt::print("headline: rain_vs_vanilla and requests_per_token with speculation_depth 2 (opt-in), caches on, concurrency 4\n");
  // The headline figures as one JSON object, the last line, for tracking over time.
  const double per_tok = rain_default.wall_ms / static_cast<double>(rain_default.tokens);
  const double van_per_tok = van.wall_ms / static_cast<double>(van.tokens);
  fmt::print("{}\n", nlohmann::json{{"rain_vs_vanilla", per_tok / van_per_tok},
                                     {"requests_per_token", static_cast<double>(rain_default.requests) / static_cast<double>(rain_default.tokens)},
                                     {"dataset_ratio", dataset}}
                         .dump());
  return 0;
}
