// selfalign: openai_backend — the OpenAI-compatible HTTP backend (vLLM, llama.cpp, Ollama, SGLang,
// TGI, OpenAI): what each call sends and how each answer is read. The transport (pool, retries,
// deadlines) is backends/detail/http_transport.hpp; the scoring strategies backends/detail/scoring.hpp
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/detail/context.hpp>
#include <selfalign/backends/detail/errors.hpp>
#include <selfalign/backends/detail/http_transport.hpp>
#include <selfalign/backends/detail/scoring.hpp>
#include <selfalign/backends/detail/wire.hpp>
#include <selfalign/backends/options.hpp>
#include <selfalign/backends/sse.hpp>
#include <selfalign/batch.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/redact.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/result.hpp>
#include <selfalign/seed.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// What probe() found at the base URL.
struct server_info {
  server_preset preset = server_preset::generic;  ///< the server it behaves as
  std::vector<model_info> models;                 ///< GET /v1/models
};

/// Counters of the transport, for tests and monitoring.
struct transport_stats {
  std::uint64_t attempts = 0;         ///< HTTP requests sent (every retry included)
  std::uint64_t retries = 0;          ///< retries after a retryable failure (with a wait)
  std::uint64_t stale_retries = 0;    ///< free retries of a reused keep-alive socket that failed at once
  std::uint64_t deadline_aborts = 0;  ///< requests aborted because the call's deadline passed
};

/// A streaming callback: receives each delta; returns false to cancel the call.
using stream_callback = std::function<bool(const stream_chunk&)>;

/// The OpenAI-compatible HTTP backend. Models Generator, ScoringGenerator, Tokenizer and Embedder.
///
/// Copies share one connection pool and one probe cache. All members may be called from several
/// threads at once; at most `max_concurrency` requests per base URL are in flight, the others wait
/// for a connection. Nothing throws: every failure is a result error (HTTP errors carry the
/// server's status, type, code, message and request id).
///
/// @code
/// selfalign::openai_options o = selfalign::openai_options::from_env();
/// o.preset = selfalign::server_preset::vllm;
/// selfalign::openai_backend llm(o);
/// auto g = llm.generate({.prompt = "The capital of France is", .sampling = {.max_tokens = 8}});
/// @endcode
class openai_backend {
  struct state;

 public:
  using clock = std::chrono::steady_clock;

  /// Configures the backend; no connection is made yet. A bad configuration (unparsable URL,
  /// https:// without OpenSSL) is reported by every call.
  explicit openai_backend(openai_options options = openai_options::from_env())
      : s_(std::make_shared<state>(std::move(options))) {}

  /// As the constructor, but reports a bad configuration here.
  [[nodiscard]] static result<openai_backend> create(openai_options options) {
    openai_backend b(std::move(options));
    if (b.s_->net.config_error()) return unexpected(*b.s_->net.config_error());
    return b;
  }

  [[nodiscard]] const openai_options& options() const noexcept { return s_->net.options(); }
  [[nodiscard]] transport_stats stats() const noexcept {
    const auto& c = s_->net.counters();
    return {c.attempts.load(), c.retries.load(), c.stale_retries.load(), c.deadline_aborts.load()};
  }

  // -- Generator ---------------------------------------------------------------------------------

  /// Chat prompts go to /chat/completions, raw text and token ids to /completions. n > 1 is sent
  /// natively where the server honours it and emulated by parallel requests (seeds derived from
  /// sampling.seed and the choice index) elsewhere or when the server returned fewer choices.
  [[nodiscard]] result<generation> generate(const generation_request& req) {
    if (s_->net.config_error()) return unexpected(*s_->net.config_error());
    const auto deadline = call_deadline();
    auto prof = profile();
    auto check = detail::check_sampling(prof, req.sampling, req.prompt.is_chat());
    if (!check) return unexpected(check.error());
    if (req.prompt.is_tokens() && !prof.token_id_prompts)
      return fail(errc::unsupported, fmt::format("the '{}' server does not accept token-id prompts; vLLM, SGLang and llama.cpp do",
                                                 to_string(prof.preset)));
    const std::string model = resolve_model(req.model, deadline);
    const int n = req.sampling.n;
    if (n == 1 || prof.native_n) {
      auto first = generate_once(prof, model, req, req.sampling.seed, n, deadline);
      if (!first || static_cast<int>(first->choices.size()) >= n) {
        if (first && static_cast<int>(first->choices.size()) > n) first->choices.resize(static_cast<std::size_t>(n));
        if (first && first->choices.empty()) return unexpected(detail::bad_body("/completions", "the answer has no choices", "{}"));
        return first;
      }
      // The server ignored n: ask for the missing choices one by one.
      return emulate_n(prof, model, req, std::move(*first), deadline);
    }
    return emulate_n(prof, model, req, generation{}, deadline);
  }

  /// generate() for many requests at once: up to min(options.max_concurrency, pool capacity)
  /// requests in flight over the pool's keep-alive connections. Answers in request order.
  [[nodiscard]] std::vector<result<generation>> generate_batch(std::span<const generation_request> reqs,
                                                               const batch_options& o = {}) {
    return selfalign::detail::run_batch<generation>(reqs, batch_width(o), o,
                                                [this](const generation_request& r) { return generate(r); });
  }

  // -- MultiPromptGenerator: several prompts in one request --------------------------------------

  /// Raw-text or token-id prompts that differ in nothing else (the generate_multi CPO checks it)
  /// as ONE POST /completions with `"prompt": [...]`, where the server takes a list of prompts
  /// (capabilities().max_prompts: vLLM, SGLang, llama.cpp). Answers in request order, each what
  /// generate() answers for its request: the choices are matched to prompts by `index` (prompt
  /// major: index = prompt * n + choice). The first answer's usage is the request's (requests = 1);
  /// llama.cpp reports only the first prompt's counts there (0.7.0), so the others carry their own
  /// (prompt ids counted, texts estimated). Where one request cannot answer all of them as separate
  /// requests would (n > 1 emulated, max_tokens cut to the context), they go out separately.
  [[nodiscard]] result<std::vector<generation>> generate_multi(std::span<const generation_request> reqs) {
    if (s_->net.config_error()) return unexpected(*s_->net.config_error());
    auto prof = profile();
    if (!selfalign::detail::multi_prompt_compatible(reqs, prof.max_prompts)) {
      if (reqs.size() < 2) return separately(reqs);
      return fail(errc::unsupported, fmt::format("the '{}' server cannot take these {} prompts in one request (a list of "
                                                 "prompts needs raw-text or token-id prompts with the same model and sampling; "
                                                 "vLLM, SGLang and llama.cpp take one)", to_string(prof.preset), reqs.size()));
    }
    const generation_request& first = reqs.front();
    if (auto check = detail::check_sampling(prof, first.sampling, false); !check) return unexpected(check.error());
    if (first.prompt.is_tokens() && !prof.token_id_prompts)
      return fail(errc::unsupported, fmt::format("the '{}' server does not accept token-id prompts", to_string(prof.preset)));
    const int n = first.sampling.n;
    if (n > 1 && !prof.native_n) return separately(reqs);
    const auto deadline = call_deadline();
    const std::string model = resolve_model(first.model, deadline);
    std::vector<std::int64_t> prompt_tokens;
    for (const auto& r : reqs) {
      auto fit = fit_to_context(prof, model, r.prompt, first.sampling.max_tokens, deadline);
      if (!fit) return unexpected(std::move(fit).error());
      if (*fit != first.sampling.max_tokens) return separately(reqs);  // each gets its own cut
      prompt_tokens.push_back(prompt_token_estimate(r.prompt));
    }
    nlohmann::json body = detail::completion_body(prof, model, first.prompt, first.sampling, first.sampling.seed, n, false);
    body["prompt"] = detail::prompt_list(reqs);
    finish_body(body, model);
    auto reply = s_->net.request("POST", "/completions", false, body.dump(), deadline, nullptr);
    if (!reply) return unexpected(std::move(reply).error());
    std::int64_t all_prompts = 0;
    for (auto t : prompt_tokens) all_prompts += t;
    auto g = parse_answer(std::move(reply->body), "/completions", false, all_prompts);
    if (!g) return unexpected(std::move(g).error());
    finish_answer(*g, prof, first.sampling);
    auto split = detail::split_multi_answer(std::move(*g), prompt_tokens, n, prof.preset != server_preset::llamacpp,
                                            first.prompt.is_tokens());
    if (!split) return unexpected(s_->net.scrub(std::move(split).error()));
    return split;
  }
  /// Streams one generation (n = 1, or n > 1 where the server honours n). `on_chunk` sees every
  /// delta as it arrives and may return false to cancel (errc::cancelled). Returns the whole
  /// generation. A stream is never retried once data has reached the callback.
  [[nodiscard]] result<generation> generate_stream(const generation_request& req, const stream_callback& on_chunk) {
    if (s_->net.config_error()) return unexpected(*s_->net.config_error());
    const auto deadline = call_deadline();
    auto prof = profile();
    auto check = detail::check_sampling(prof, req.sampling, req.prompt.is_chat());
    if (!check) return unexpected(check.error());
    if (req.sampling.n > 1 && !prof.native_n)
      return fail(errc::unsupported, fmt::format("the '{}' server ignores n; stream one choice per call", to_string(prof.preset)));
    if (req.prompt.is_tokens() && !prof.token_id_prompts)
      return fail(errc::unsupported, fmt::format("the '{}' server does not accept token-id prompts", to_string(prof.preset)));
    const std::string model = resolve_model(req.model, deadline);
    const bool chat = req.prompt.is_chat();
    nlohmann::json body = chat ? detail::chat_body(prof, token_field(prof), model, req.prompt.messages(), req.sampling,
                                                   req.sampling.seed, req.sampling.n, true)
                               : detail::completion_body(prof, model, req.prompt, req.sampling, req.sampling.seed,
                                                         req.sampling.n, true);
    finish_body(body, model);
    const std::string path = chat ? "/chat/completions" : "/completions";

    detail::stream_accumulator acc(chat, static_cast<std::size_t>(req.sampling.n), prompt_token_estimate(req.prompt));
    std::optional<error> stream_error;
    bool done = false, user_cancelled = false;
    const std::size_t max_line = std::min<std::size_t>(std::size_t{16} << 20, s_->net.options().max_answer_bytes);
    sse_parser parser([&](const sse_event& ev) {
      if (done) return true;
      if (detail::trim(ev.data) == "[DONE]") {
        done = true;
        return true;
      }
      auto chunks = acc.apply(ev.data);
      if (!chunks) {
        stream_error = s_->net.scrub(std::move(chunks).error());
        return false;
      }
      for (const auto& c : *chunks) {
        if (c.text.empty() && c.tokens.empty() && c.finish_reason.empty()) continue;
        if (!on_chunk(c)) {
          user_cancelled = true;
          return false;
        }
      }
      return true;
    }, max_line);
    detail::stream_sink sink;
    sink.feed = [&](std::string_view bytes) { return parser.feed(bytes); };
    auto reply = s_->net.request("POST", path, false, body.dump(), deadline, &sink);
    if (stream_error) return unexpected(std::move(*stream_error));
    if (user_cancelled) return fail(errc::cancelled, "the streaming callback cancelled the call");
    if (!reply) return unexpected(std::move(reply).error());
    if (sink.json_answer) {  // the server ignored stream:true and answered in one piece
      auto whole = parse_answer(std::move(reply->body), path, chat, prompt_token_estimate(req.prompt));
      if (whole) {
        for (std::size_t i = 0; i < whole->choices.size(); ++i) {
          // The choice's text and tokens are lent to the chunk and taken back: never copied.
          completion& choice = whole->choices[i];
          stream_chunk c{i, std::move(choice.text), std::move(choice.tokens), choice.finish_reason};
          const bool go_on = on_chunk(c);
          choice.text = std::move(c.text);
          choice.tokens = std::move(c.tokens);
          if (!go_on) return fail(errc::cancelled, "the streaming callback cancelled the call");
        }
      }
      return whole;
    }
    parser.finish();
    if (stream_error) return unexpected(std::move(*stream_error));
    if (user_cancelled) return fail(errc::cancelled, "the streaming callback cancelled the call");
    if (parser.overflowed())
      return unexpected(detail::bad_body("POST " + path, fmt::format("a stream line exceeded {} bytes", max_line), ""));
    if (!done && !acc.all_finished())
      return fail(errc::bad_response, fmt::format("the stream from POST {} ended before [DONE] and before a finish_reason "
                                                  "({} events received)", path, parser.events()));
    return acc.take();
  }

  // -- ScoringGenerator -----------------------------------------------------------------------------

  /// log p(continuation | prompt). vLLM: prompt_logprobs on a token-id prompt (exact boundary).
  /// SGLang: echo + logprobs, max_tokens 1 (the extra token is dropped). llama.cpp: teacher forcing
  /// on /completion, all the continuation's positions as one list of prompts in one request (one
  /// request per position where the profile's max_prompts is 1); `approximate` when a token fell
  /// outside the top-k. Others: errc::unsupported.
  [[nodiscard]] result<scoring> score(const scoring_request& req) {
    if (s_->net.config_error()) return unexpected(*s_->net.config_error());
    const auto deadline = call_deadline();
    auto prof = profile();
    using sm = server_profile::scoring_method;
    if (prof.scoring == sm::none)
      return fail(errc::unsupported,
                  fmt::format("the '{}' server cannot score a given continuation (it returns no prompt logprobs); "
                              "scoring works on vLLM and SGLang (exact) and llama.cpp (approximate, teacher forcing)",
                              to_string(prof.preset)));
    if (req.top_logprobs < 0) return fail(errc::invalid_argument, "scoring_request.top_logprobs must not be negative");
    const std::string model = resolve_model(req.model, deadline);
    usage used;
    auto seq = scoring_sequence(prof, model, req, deadline, used);
    if (!seq) return unexpected(std::move(seq).error());
    scoring out;
    out.boundary = seq->boundary;
    out.boundary_merged = seq->merged;
    out.prompt_tokens = seq->prompt.size();
    const std::vector<token_id>& cont = seq->continuation;
    if (cont.empty()) {
      out.usage = used;
      return out;
    }
    const detail::scoring_call call{model, seq->prompt, cont, req.top_logprobs, deadline};
    result<detail::scored_continuation> read = unexpected(error(errc::internal, "no scoring method"));
    switch (prof.scoring) {
      case sm::prompt_logprobs: read = detail::score_by_prompt_logprobs(s_->net, call); break;
      case sm::echo: read = detail::score_by_echo(s_->net, call); break;
      case sm::teacher_forcing: {
        int top = std::max(req.top_logprobs, s_->net.options().teacher_forcing_top_k);
        if (s_->net.options().teacher_forcing_top_k <= 0) {  // exact: every token of the vocabulary
          auto vocab = vocabulary_size(deadline);
          if (!vocab) return unexpected(std::move(vocab).error());
          top = std::max(req.top_logprobs, *vocab);
        }
        read = detail::score_by_teacher_forcing(s_->net, call, top, prof.max_prompts);
        break;
      }
      case sm::none: break;
    }
    if (!read) return unexpected(std::move(read).error());
    out.tokens = std::move(read->tokens);
    out.approximate = read->approximate;
    used += read->used;
    for (std::size_t i = 0; i < out.tokens.size(); ++i) {
      const auto& t = out.tokens[i];
      // A missing value (null, NaN or Infinity on the wire) would make the sum silently NaN.
      if (!std::isfinite(t.logprob) && !(std::isinf(t.logprob) && t.logprob < 0))
        return fail(errc::bad_response, fmt::format("the server gave no usable logprob for continuation token {} ('{}', id {})", i,
                                                    t.token, t.id ? std::to_string(*t.id) : std::string("unknown")));
      out.logprob += t.logprob;
    }
    out.usage = used;
    return out;
  }

  [[nodiscard]] std::vector<result<scoring>> score_batch(std::span<const scoring_request> reqs, const batch_options& o = {}) {
    return selfalign::detail::run_batch<scoring>(reqs, batch_width(o), o,
                                                [this](const scoring_request& r) { return score(r); });
  }

  // -- Tokenizer ------------------------------------------------------------------------------------

  /// POST /tokenize at the server root (vLLM, SGLang, llama.cpp).
  [[nodiscard]] result<std::vector<token_id>> tokenize(std::string_view text, bool add_special) {
    if (s_->net.config_error()) return unexpected(*s_->net.config_error());
    const auto deadline = call_deadline();
    auto prof = profile();
    return tokenize_with(prof, resolve_model("", deadline), text, add_special, deadline);
  }

  /// POST /detokenize at the server root (vLLM, SGLang, llama.cpp).
  [[nodiscard]] result<std::string> detokenize(std::span<const token_id> ids) {
    if (s_->net.config_error()) return unexpected(*s_->net.config_error());
    const auto deadline = call_deadline();
    auto prof = profile();
    if (!prof.tokenize) return unsupported_tokenize(prof);
    nlohmann::json body = {{"tokens", std::vector<token_id>(ids.begin(), ids.end())}};
    if (prof.preset != server_preset::llamacpp) body["model"] = resolve_model("", deadline);
    auto j = post_json("/detokenize", body, deadline, true);
    if (!j) return unexpected(std::move(j).error());
    auto text = detail::parse_detokenize(*j);
    if (!text) return unexpected(detail::bad_body("POST /detokenize", text.error().message, s_->net.scrubbed_excerpt(*j)));
    return text;
  }

  // -- Embedder ------------------------------------------------------------------------------------

  /// POST /embeddings with every text in one request; vectors in input order.
  [[nodiscard]] result<embeddings> embed(const embedding_request& req) {
    if (s_->net.config_error()) return unexpected(*s_->net.config_error());
    const auto deadline = call_deadline();
    auto prof = profile();
    if (!prof.embeddings)
      return fail(errc::unsupported, fmt::format("the '{}' server has no /v1/embeddings endpoint", to_string(prof.preset)));
    if (req.texts.empty()) return embeddings{};
    const std::string model = resolve_model(req.model, deadline);
    nlohmann::json body = {{"model", model}, {"input", req.texts}, {"encoding_format", "float"}};
    finish_body(body, model);
    auto j = post_json("/embeddings", body, deadline);
    if (!j) return unexpected(std::move(j).error());
    auto e = detail::parse_embeddings(*j, req.texts.size());
    if (!e) return unexpected(detail::bad_body("POST /embeddings", e.error().message, s_->net.scrubbed_excerpt(*j)));
    return e;
  }

  [[nodiscard]] std::vector<result<embeddings>> embed_batch(std::span<const embedding_request> reqs, const batch_options& o = {}) {
    return selfalign::detail::run_batch<embeddings>(reqs, batch_width(o), o,
                                                [this](const embedding_request& r) { return embed(r); });
  }

  // -- Discovery ------------------------------------------------------------------------------------

  /// GET /models.
  [[nodiscard]] result<std::vector<model_info>> list_models() {
    if (s_->net.config_error()) return unexpected(*s_->net.config_error());
    auto j = get_json("/models", call_deadline(), false, s_->net.options().retry.max_retries);
    if (!j) return unexpected(std::move(j).error());
    auto models = detail::parse_models(*j);
    if (!models) return unexpected(detail::bad_body("GET /models", models.error().message, s_->net.scrubbed_excerpt(*j)));
    remember_context_from_models(*j, s_->net.options().model);
    return models;
  }

  /// Finds out which server answers (GET /models, then known endpoints: Ollama's /api/version,
  /// TGI's /info, llama.cpp's /props, SGLang's /get_model_info, vLLM's /version). With the
  /// automatic preset the answer is cached and used from then on. Never retries.
  [[nodiscard]] result<server_info> probe() {
    if (s_->net.config_error()) return unexpected(*s_->net.config_error());
    server_info info;
    const auto deadline = clock::now() + std::min<clock::duration>(s_->net.options().connect_timeout * 3, std::chrono::seconds(30));
    const auto& url = s_->net.first_url();
    auto models_json = get_json("/models", deadline, false, 0);
    if (!models_json && !(models_json.error().http_status >= 400)) return unexpected(std::move(models_json).error());
    if (models_json)
      if (auto m = detail::parse_models(*models_json)) info.models = std::move(*m);
    if (models_json) remember_context_from_models(*models_json, s_->net.options().model);
    std::optional<server_preset> found;
    if (url.host.find("openai.com") != std::string::npos) found = server_preset::openai;
    for (const auto& m : info.models) {
      if (found) break;
      if (m.owned_by == "vllm") found = server_preset::vllm;
      else if (m.owned_by == "llamacpp") found = server_preset::llamacpp;
      else if (m.owned_by == "sglang") found = server_preset::sglang;
      else if (m.owned_by == "ollama" || m.owned_by == "library") found = server_preset::ollama;
    }
    struct known {
      const char* path;
      const char* key;
      server_preset preset;
    };
    static constexpr known probes[] = {{"/api/version", "version", server_preset::ollama},
                                       {"/info", "model_id", server_preset::tgi},
                                       {"/props", "default_generation_settings", server_preset::llamacpp},
                                       {"/get_model_info", "model_path", server_preset::sglang},
                                       {"/version", "version", server_preset::vllm}};
    for (const auto& p : probes) {
      if (found) break;
      auto j = get_json(p.path, deadline, true, 0);
      if (j && j->is_object() && j->contains(p.key)) found = p.preset;
    }
    info.preset = found.value_or(server_preset::generic);
    if (s_->net.options().preset == server_preset::automatic) {
      std::lock_guard lock(s_->mutex);
      s_->resolved = profile_for(info.preset);
      if (s_->default_model.empty() && !info.models.empty()) s_->default_model = info.models.front().id;
    }
    return info;
  }

  /// The configured server's abilities (probes once with the automatic preset). context_size is
  /// filled when already known (the probe reads it from GET /models); context_size() asks for it.
  [[nodiscard]] selfalign::capabilities capabilities() {
    const server_profile prof = profile();
    selfalign::capabilities c = capabilities_for(prof);
    c.context_size = known_context();
    c.max_concurrent_calls = max_concurrent_calls();
    // cached<> keys on the model a request without one goes to (looked up once) and the extra body.
    c.default_model = resolve_model({}, call_deadline());
    if (s_->net.options().extra_body.is_object() && !s_->net.options().extra_body.empty())
      c.fixed_request_fields = s_->net.options().extra_body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (prof.scoring == server_profile::scoring_method::teacher_forcing && s_->net.options().teacher_forcing_top_k <= 0)
      c.scoring_exact = true;  // n_probs = the vocabulary: every logprob is read
    return c;
  }
  /// Calls it accepts at once: its connection pool (max_concurrency per base URL); more wait for a
  /// connection. Cheap (no probe), so selfalign's executors read it on every call.
  [[nodiscard]] std::size_t max_concurrent_calls() const { return s_->net.capacity(); }

  /// The tokens one request may hold, prompt and completion together: options.context_size when
  /// set, else what the server says — vLLM's and SGLang's `max_model_len` (GET /v1/models),
  /// llama.cpp's per-slot `n_ctx` (GET /v1/models `meta.n_ctx`, else GET /props; `-c` divided by
  /// `-np`). 0 when the server does not tell. Asked once, then remembered; generate() uses it to
  /// cut max_tokens to what fits.
  [[nodiscard]] result<std::int64_t> context_size() {
    if (s_->net.config_error()) return unexpected(*s_->net.config_error());
    if (const auto known = known_context(); known > 0 || s_->net.options().context_size < 0) return known;
    const auto deadline = call_deadline();
    auto models = get_json("/models", deadline, false, 0);
    if (models) remember_context_from_models(*models, s_->net.options().model);
    if (known_context() == 0 && profile().preset == server_preset::llamacpp) {
      auto props = get_json("/props", deadline, true, 0);
      if (!props) return unexpected(std::move(props).error());
      if (auto n = detail::context_from_props(*props)) remember_context(*n);
    } else if (!models && models.error().http_status == 0) {
      return unexpected(std::move(models).error());
    }
    return known_context();
  }

  /// The profile in use: the preset's, or the probed one for the automatic preset (generic when
  /// the probe could not reach the server; it is retried on the next call).
  [[nodiscard]] server_profile profile() {
    if (s_->net.options().preset != server_preset::automatic) return s_->fixed;
    {
      std::lock_guard lock(s_->mutex);
      if (s_->resolved) return *s_->resolved;
    }
    std::lock_guard probe_lock(s_->probe_mutex);  // one probe at a time; the others wait for it
    {
      std::lock_guard lock(s_->mutex);
      if (s_->resolved) return *s_->resolved;
    }
    if (auto info = probe()) return profile_for(info->preset);
    return profile_for(server_preset::generic);
  }

 private:
  /// A parsed answer as the caller asked for it: no token entries when they were asked only to carry
  /// the ids, and no more alternatives than asked where the server was asked for more (llama.cpp).
  static void finish_answer(generation& g, const server_profile& prof, const sampling& asked) {
    if (asked.return_token_ids && asked.logprobs < 0)
      for (auto& c : g.choices) c.tokens.clear();
    if (detail::asked_more_alternatives(prof, asked)) detail::keep_alternatives(g, asked.logprobs);
  }

  /// generate_multi's fallback: the requests one by one, in parallel (as generate_batch).
  [[nodiscard]] result<std::vector<generation>> separately(std::span<const generation_request> reqs) {
    std::vector<generation> out;
    for (auto& a : generate_batch(reqs, batch_options{reqs.size(), {}})) {
      if (!a) return unexpected(std::move(a).error());
      out.push_back(std::move(*a));
    }
    return out;
  }

  // What the backend learns about its server, shared by copies; the transport sends the requests.
  struct state {
    detail::http_transport net;
    server_profile fixed;
    std::mutex mutex;
    std::mutex probe_mutex;
    std::optional<server_profile> resolved;
    std::string default_model;
    bool default_model_tried = false;
    std::int64_t context = 0;       // tokens per request, once a server answer told it (0: unknown)
    int n_vocab = 0;                // exact teacher forcing: looked up once
    std::mutex model_lookup_mutex;  // held while the default model is looked up

    explicit state(openai_options o) : net(std::move(o)), fixed(profile_for(net.options().preset)) {}
  };

  [[nodiscard]] clock::time_point call_deadline() const { return s_->net.call_deadline(); }

  [[nodiscard]] std::size_t batch_width(const batch_options& o) const {
    return std::max<std::size_t>(1, std::min(o.max_concurrency, s_->net.capacity()));
  }

  [[nodiscard]] std::string token_field(const server_profile& prof) const {
    return s_->net.options().token_limit_field.empty() ? prof.chat_token_field : s_->net.options().token_limit_field;
  }

  void finish_body(nlohmann::json& body, const std::string& model) const { s_->net.finish_body(body, model); }

  /// The model to send: the request's, the options', or the first one the server lists (once).
  std::string resolve_model(const std::string& requested, clock::time_point deadline) {
    if (!requested.empty()) return requested;
    if (!s_->net.options().model.empty()) return s_->net.options().model;
    // One lookup for all: concurrent first calls wait for it instead of each asking /models.
    std::lock_guard fetching(s_->model_lookup_mutex);
    {
      std::lock_guard lock(s_->mutex);
      if (!s_->default_model.empty() || s_->default_model_tried) return s_->default_model;
    }
    std::string found;
    auto j = get_json("/models", deadline, false, 0);
    if (j)
      if (auto m = detail::parse_models(*j); m && !m->empty()) {
        found = m->front().id;
        remember_context_from_models(*j, found);
      }
    std::lock_guard lock(s_->mutex);
    s_->default_model_tried = j.has_value();
    if (s_->default_model.empty()) s_->default_model = found;
    return s_->default_model;
  }

  /// A rough size of a prompt in tokens, for servers that report no usable usage.
  [[nodiscard]] static std::int64_t prompt_token_estimate(const prompt& p) {
    if (p.is_tokens()) return static_cast<std::int64_t>(p.token_ids().size());
    if (p.is_text()) return detail::estimate_tokens(p.raw_text());
    std::int64_t n = 0;
    for (const auto& m : p.messages()) n += detail::estimate_tokens(m.content) + 4;  // + the template's role markers
    return n;
  }

  /// Parses a whole answer. Takes the body: its buffer becomes the (last) long text in it, decoded
  /// where it lies, or it is freed once parsed; the texts are then moved out of the parsed value.
  /// So a large answer is held once, plus any other long text in it while it is parsed.
  [[nodiscard]] result<generation> parse_answer(std::string body, const std::string& path, bool chat,
                                                std::int64_t prompt_estimate = -1) const {
    json_read_notes notes;
    const std::string start = detail::excerpt(body, 400);  // for messages about the shape
    auto parsed = detail::parse_json_taking(body, server_json_options(), &notes);
    if (!parsed) return unexpected(s_->net.scrub(detail::bad_body("POST " + path, "the answer is " + parsed.error().message, body)));
    std::string().swap(body);
    nlohmann::json& j = *parsed;
    if (auto err = detail::error_in_payload(j)) return unexpected(s_->net.scrub(std::move(*err)));
    try {
      detail::answer_context ctx;
      ctx.prompt_tokens_estimate = prompt_estimate;
      ctx.text_repaired = notes.text_repaired;
      auto g = detail::parse_generation(std::move(j), chat, ctx);
      if (!g) return unexpected(s_->net.scrub(detail::bad_body("POST " + path, g.error().message, start)));
      return g;
    } catch (const nlohmann::json::exception& e) {
      return unexpected(s_->net.scrub(detail::bad_body("POST " + path, e.what(), start)));
    }
  }

  result<generation> generate_once(const server_profile& prof, const std::string& model, const generation_request& req,
                                   std::optional<std::uint64_t> seed, int n, clock::time_point deadline) {
    const bool chat = req.prompt.is_chat();
    sampling smp = req.sampling;
    if (auto fit = fit_to_context(prof, model, req.prompt, smp.max_tokens, deadline); !fit) return unexpected(std::move(fit).error());
    else smp.max_tokens = *fit;
    const std::string path = chat ? "/chat/completions" : "/completions";
    for (int attempt = 0;; ++attempt) {
      nlohmann::json body = chat ? detail::chat_body(prof, token_field(prof), model, req.prompt.messages(), smp, seed, n, false)
                                 : detail::completion_body(prof, model, req.prompt, smp, seed, n, false);
      finish_body(body, model);
      std::string overflow_body;
      auto reply = s_->net.request("POST", path, false, body.dump(), deadline, nullptr, std::nullopt, &overflow_body);
      if (reply) {
        auto g = parse_answer(std::move(reply->body), path, chat, prompt_token_estimate(req.prompt));
        if (g) finish_answer(*g, prof, req.sampling);
        return g;
      }
      if (reply.error().code != errc::context_overflow || attempt > 0) return unexpected(std::move(reply).error());
      // The server counted prompt + max_tokens against its context (vLLM): when it says how many
      // prompt tokens there are and they fit, ask again with max_tokens cut to what fits.
      const auto counts = detail::parse_overflow_counts(overflow_body, reply.error().message);
      if (counts.context) remember_context(*counts.context);
      if (!counts.context || !counts.prompt_tokens) return unexpected(std::move(reply).error());
      const auto fits = detail::fitting_max_tokens(smp.max_tokens, *counts.prompt_tokens, *counts.context);
      if (fits <= 0 || fits >= smp.max_tokens) return unexpected(std::move(reply).error());
      smp.max_tokens = static_cast<int>(fits);
    }
  }

  /// max_tokens cut to what fits the context window, when the context size is known and the prompt
  /// may not leave room for max_tokens: token-id prompts are counted as they are, raw text through
  /// /tokenize (only when its byte count says it might not fit). errc::context_overflow when the
  /// prompt alone fills the window. Chat prompts are left to the server (see generate_once).
  result<int> fit_to_context(const server_profile& prof, const std::string& model, const prompt& p, int max_tokens,
                             clock::time_point deadline) {
    const std::int64_t ctx = known_context();
    if (ctx <= 0 || p.is_chat()) return max_tokens;
    std::int64_t prompt_tokens = 0;
    if (p.is_tokens()) {
      prompt_tokens = static_cast<std::int64_t>(p.token_ids().size());
    } else {
      // A token covers at least one byte; a few special tokens (BOS) come on top.
      if (static_cast<std::int64_t>(p.raw_text().size()) + 4 + max_tokens <= ctx || !prof.tokenize) return max_tokens;
      auto ids = tokenize_with(prof, model, p.raw_text(), true, deadline);
      if (!ids) return max_tokens;  // cannot count: let the server decide
      prompt_tokens = static_cast<std::int64_t>(ids->size());
    }
    if (prompt_tokens >= ctx) {
      error e(errc::context_overflow, fmt::format("the prompt has {} tokens, which leaves no room in the model's context of {} tokens "
                                                  "(shorten the prompt or start the server with a larger context)",
                                                  prompt_tokens, ctx));
      e.retryable = false;
      return unexpected(std::move(e));
    }
    return static_cast<int>(detail::fitting_max_tokens(max_tokens, prompt_tokens, ctx));
  }

  /// The context size when known without a request: options.context_size, or what a GET /models
  /// (probe, default-model lookup, context_size()) or an overflow answer told.
  [[nodiscard]] std::int64_t known_context() const {
    if (s_->net.options().context_size != 0) return std::max<std::int64_t>(0, s_->net.options().context_size);
    std::lock_guard lock(s_->mutex);
    return s_->context;
  }
  void remember_context(std::int64_t n) {
    std::lock_guard lock(s_->mutex);
    if (s_->context == 0) s_->context = n;
  }
  void remember_context_from_models(const nlohmann::json& models, const std::string& model) {
    if (auto n = detail::context_from_models(models, model)) remember_context(*n);
  }

  /// Fills `got` up to n choices with single-choice requests in parallel, each with its own seed.
  result<generation> emulate_n(const server_profile& prof, const std::string& model, const generation_request& req,
                               generation got, clock::time_point deadline) {
    const std::size_t n = static_cast<std::size_t>(req.sampling.n);
    const std::size_t have = got.choices.size();
    auto extra = parallel_map(n - have, n - have, [&](std::size_t k) -> result<generation> {
      const std::size_t index = have + k;
      std::optional<std::uint64_t> seed = req.sampling.seed;
      if (seed && index > 0) seed = derive_seed(*seed, "choice", index);
      return generate_once(prof, model, req, seed, 1, deadline);
    });
    for (auto& e : extra) {
      if (!e) return unexpected(std::move(e).error());
      if (e->choices.empty()) return fail(errc::bad_response, "an emulated choice came back without choices");
      got.choices.push_back(std::move(e->choices.front()));
      got.usage += e->usage;
      if (got.model.empty()) got.model = e->model;
    }
    return got;
  }

  result<std::vector<token_id>> tokenize_with(const server_profile& prof, const std::string& model, std::string_view text,
                                              bool add_special, clock::time_point deadline) {
    if (!prof.tokenize) return unsupported_tokenize(prof);
    nlohmann::json body;
    if (prof.preset == server_preset::llamacpp) {
      body = {{"content", text}, {"add_special", add_special}};
    } else {
      body = {{"prompt", text}, {"add_special_tokens", add_special}};
      if (!model.empty()) body["model"] = model;
    }
    auto j = post_json("/tokenize", body, deadline, true);
    if (!j) return unexpected(std::move(j).error());
    auto ids = detail::parse_tokenize(*j);
    if (!ids) return unexpected(detail::bad_body("POST /tokenize", ids.error().message, s_->net.scrubbed_excerpt(*j)));
    return ids;
  }

  [[nodiscard]] static unexpected unsupported_tokenize(const server_profile& prof) {
    return fail(errc::unsupported, fmt::format("the '{}' server has no /tokenize endpoint; vLLM, SGLang and llama.cpp do",
                                               to_string(prof.preset)));
  }

  /// The token ids of a scoring request: the prompt exactly as the generation endpoint tokenizes
  /// it, then the continuation. Given continuation ids are used as they are. A text continuation
  /// is never tokenized on its own (a SentencePiece tokenizer would add its dummy-prefix space, and
  /// merges across the seam would differ from generation): prompt and prompt + continuation are
  /// tokenized together and split where they part (a merged seam token is scored as the
  /// continuation's first). Only a token-id prompt leaves no text to join with.
  struct scoring_ids {
    std::vector<token_id> prompt, continuation;
    scoring_boundary boundary = scoring_boundary::given_ids;
    bool merged = false;
  };
  result<scoring_ids> scoring_sequence(const server_profile& prof, const std::string& model, const scoring_request& req,
                                       clock::time_point deadline, usage& used) {
    std::string rendered;  // the chat template's text, where the server renders it for us
    auto prefix = prompt_ids(prof, model, req.prompt, deadline, used, &rendered);
    if (!prefix) return unexpected(std::move(prefix).error());
    scoring_ids out;
    if (!req.continuation_token_ids.empty() || req.continuation.empty()) {
      out.prompt = std::move(*prefix);
      out.continuation = req.continuation_token_ids;
      return out;
    }
    result<std::vector<token_id>> joint = std::vector<token_id>{};
    if (req.prompt.is_tokens()) {
      out.boundary = scoring_boundary::separate;
      auto ids = tokenize_with(prof, model, req.continuation, false, deadline);
      if (!ids) return unexpected(std::move(ids).error());
      ++used.requests;
      out.prompt = std::move(*prefix);
      out.continuation = std::move(*ids);
      return out;
    }
    if (req.prompt.is_text()) {
      joint = tokenize_with(prof, model, req.prompt.raw_text() + req.continuation, true, deadline);
    } else if (prof.preset == server_preset::llamacpp) {
      joint = tokenize_with(prof, model, rendered + req.continuation, true, deadline);
    } else {  // vLLM: the template renders the answer as a started assistant message
      nlohmann::json msgs = chat_messages_json(req.prompt.messages());
      msgs.push_back({{"role", "assistant"}, {"content", req.continuation}});
      nlohmann::json body = {{"messages", msgs}, {"add_generation_prompt", false}, {"continue_final_message", true},
                             {"add_special_tokens", false}};
      if (!model.empty()) body["model"] = model;
      auto j = post_json("/tokenize", body, deadline, true);
      if (!j) return unexpected(std::move(j).error());
      joint = detail::parse_tokenize(*j);
      if (!joint) return unexpected(detail::bad_body("POST /tokenize", joint.error().message, s_->net.scrubbed_excerpt(*j)));
    }
    if (!joint) return unexpected(std::move(joint).error());
    ++used.requests;
    const auto cut = std::mismatch(prefix->begin(), prefix->end(), joint->begin(), joint->end()).first - prefix->begin();
    out.boundary = scoring_boundary::joint_tokenization;
    out.merged = static_cast<std::size_t>(cut) != prefix->size();
    out.prompt.assign(joint->begin(), joint->begin() + cut);
    out.continuation.assign(joint->begin() + cut, joint->end());
    if (out.continuation.empty())
      return fail(errc::bad_response, fmt::format("tokenizing the prompt with the continuation gave no token after the prompt's "
                                                  "{} (the continuation is {} bytes)", prefix->size(), req.continuation.size()));
    return out;
  }

  [[nodiscard]] static nlohmann::json chat_messages_json(const std::vector<message>& messages) {
    nlohmann::json msgs = nlohmann::json::array();
    for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    return msgs;
  }

  /// The prompt as token ids, as the generation endpoint tokenizes it: raw text with the special
  /// tokens /v1/completions adds (BOS); a chat prompt rendered by the server's template with the
  /// generation prompt, tokenized as its chat endpoint does (vLLM: no special tokens added, the
  /// template writes them; llama.cpp: BOS added to the rendered text, whose text goes to `rendered`).
  result<std::vector<token_id>> prompt_ids(const server_profile& prof, const std::string& model, const prompt& p,
                                           clock::time_point deadline, usage& used, std::string* rendered = nullptr) {
    if (p.is_tokens()) return p.token_ids();
    if (p.is_text()) {
      ++used.requests;
      return tokenize_with(prof, model, p.raw_text(), true, deadline);
    }
    const nlohmann::json msgs = chat_messages_json(p.messages());
    if (prof.preset == server_preset::vllm) {
      nlohmann::json body = {{"messages", msgs}, {"add_generation_prompt", true}, {"add_special_tokens", false}};
      if (!model.empty()) body["model"] = model;
      auto j = post_json("/tokenize", body, deadline, true);
      if (!j) return unexpected(std::move(j).error());
      ++used.requests;
      auto ids = detail::parse_tokenize(*j);
      if (!ids) return unexpected(detail::bad_body("POST /tokenize", ids.error().message, s_->net.scrubbed_excerpt(*j)));
      return ids;
    }
    if (prof.preset == server_preset::llamacpp) {
      auto j = post_json("/apply-template", {{"messages", msgs}}, deadline, true);
      if (!j) return unexpected(std::move(j).error());
      ++used.requests;
      const std::string text = detail::str_field(*j, "prompt");
      if (text.empty()) return unexpected(detail::bad_body("POST /apply-template", "no `prompt` string", s_->net.scrubbed_excerpt(*j)));
      ++used.requests;
      if (rendered) *rendered = text;
      return tokenize_with(prof, model, text, true, deadline);  // the chat endpoint adds BOS to the rendered text
    }
    return fail(errc::unsupported, fmt::format("scoring a chat prompt is not supported on the '{}' server; pass the prompt "
                                               "as raw text (with the chat template applied) or as token ids", to_string(prof.preset)));
  }

  /// The vocabulary size, for exact teacher forcing: llama.cpp lists it under GET /v1/models
  /// `meta.n_vocab`. Looked up once.
  result<int> vocabulary_size(clock::time_point deadline) {
    {
      std::lock_guard lock(s_->mutex);
      if (s_->n_vocab > 0) return s_->n_vocab;
    }
    auto j = get_json("/models", deadline, false, s_->net.options().retry.max_retries);
    if (!j) return unexpected(std::move(j).error());
    int n = 0;
    if (const nlohmann::json* data = detail::field(*j, "data"); data && data->is_array())
      for (const auto& m : *data)
        if (const nlohmann::json* meta = detail::field(m, "meta"))
          if (auto v = detail::num_field(*meta, "n_vocab"); v && *v > 0 && *v < 1e8) n = static_cast<int>(*v);
    if (n <= 0)
      return fail(errc::unsupported, "exact teacher forcing (teacher_forcing_top_k <= 0) needs the vocabulary size, and GET "
                                     "/v1/models lists no `meta.n_vocab`; set teacher_forcing_top_k to the vocabulary size");
    std::lock_guard lock(s_->mutex);
    s_->n_vocab = n;
    return n;
  }

  result<nlohmann::json> post_json(const std::string& path, const nlohmann::json& body, clock::time_point deadline,
                                   bool root = false) {
    return s_->net.post_json(path, body, deadline, root);
  }
  result<nlohmann::json> get_json(const std::string& path, clock::time_point deadline, bool root, int max_retries) {
    return s_->net.get_json(path, deadline, root, max_retries);
  }

  std::shared_ptr<state> s_;
};

static_assert(Generator<openai_backend> && ScoringGenerator<openai_backend> && Tokenizer<openai_backend> &&
              Embedder<openai_backend>);

SELFALIGN_END_NAMESPACE
