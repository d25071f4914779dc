// Every response and error parser of the HTTP backend on arbitrary bytes: the body read as the
// backend reads it (parse_json with the server options), then each parser, and the error-body
// path on the raw bytes. Parsers return errors; none may crash or produce a negative count.
#include "fuzz_support.hpp"

#include <selfalign/backends/detail/errors.hpp>
#include <selfalign/backends/detail/wire.hpp>
#include <selfalign/json.hpp>

#include <vector>

namespace {
void check_usage(const selfalign::usage& u) {
  fuzz::require(u.prompt_tokens >= 0 && u.completion_tokens >= 0 && u.cached_prompt_tokens >= 0, "negative usage");
  fuzz::require(u.prompt_tokens <= selfalign::detail::max_plausible_tokens, "usage out of range");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace d = selfalign::detail;
  fuzz::input in(data, size);
  const std::uint8_t control = in.byte();
  const std::string_view body = in.rest();

  // The error path reads the raw bytes itself.
  const int status = 400 + (control % 200);
  auto e = d::error_from_http(status, body, "req-1", "POST /v1/chat/completions");
  fuzz::require(!e.message.empty(), "an HTTP error without a message");
  (void)nlohmann::json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);

  selfalign::json_read_notes notes;
  auto parsed = selfalign::parse_json(body, selfalign::server_json_options(), &notes);
  if (!parsed) return 0;
  const nlohmann::json& j = *parsed;
  (void)d::error_in_payload(j);
  (void)d::json_excerpt(j, 100);

  d::answer_context ctx;
  ctx.prompt_tokens_estimate = (control & 1) ? 12 : -1;
  ctx.text_repaired = notes.text_repaired;
  for (bool chat : {true, false})
    if (auto g = d::parse_generation(j, chat, ctx)) {
      check_usage(g->usage);
      (void)nlohmann::json(*g).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    }
  check_usage(d::parse_usage(j, 3, 4));
  check_usage(d::parse_native_usage(j));
  (void)d::parse_embeddings(j, control % 4);
  (void)d::parse_models(j);
  (void)d::parse_tokenize(j);
  (void)d::parse_detokenize(j);
  if (const nlohmann::json* lp = d::field(j, "logprobs")) (void)d::parse_logprobs(*lp);
  if (const nlohmann::json* plp = d::field(j, "prompt_logprobs")) {
    const std::vector<selfalign::token_id> ids = {1, 2, 3};
    (void)d::parse_prompt_logprobs(*plp, control % 3, std::span<const selfalign::token_id>(ids).first(control % 4), control % 5);
  }
  (void)d::parse_teacher_step(j, control, control % 6);
  return 0;
}
