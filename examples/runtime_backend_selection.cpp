// Chooses the backend at run time from environment variables and uses it through any_generator.
//
//   SELFALIGN_BASE_URL  (or OPENAI_BASE_URL)  default http://127.0.0.1:8080/v1; commas = replicas
//   SELFALIGN_MODEL                            default: the first model the server lists
//   SELFALIGN_SERVER                           auto (default), vllm, llamacpp, ollama, sglang, tgi, openai, generic
//   OPENAI_API_KEY                             sent as a bearer token when set
//
// When a server answers, the example asks it one question through any_generator. When nothing
// answers it says so and exits 0: it never hangs (short connect timeout and call deadline).
#include <selfalign/selfalign.hpp>

#include <cstdio>
#include <string>

int main() {
  selfalign::openai_options options = selfalign::openai_options::from_env();
  options.connect_timeout = std::chrono::seconds(2);
  options.deadline = std::chrono::seconds(60);

  auto backend = selfalign::openai_backend::create(options);
  if (!backend) {
    std::printf("The configuration is not usable: %s\n", backend.error().describe().c_str());
    return 0;
  }
  // probe() asks GET /v1/models (and a few known endpoints) once, without retries.
  auto info = backend->probe();
  if (!info) {
    std::printf("No OpenAI-compatible server answered at %s (%s).\n"
                "Start one, for example `vllm serve <model> --port 8000` or `llama-server -m model.gguf --port 8080`,\n"
                "and point selfalign at it with SELFALIGN_BASE_URL=http://127.0.0.1:8000/v1.\n",
                options.base_urls.front().c_str(), info.error().describe().c_str());
    return 0;
  }
  std::printf("Server at %s behaves as '%s'; %zu model(s) listed.\n", options.base_urls.front().c_str(),
              std::string(selfalign::to_string(info->preset)).c_str(), info->models.size());

  // From here on the code does not know which backend it holds.
  selfalign::any_generator llm(std::move(*backend));
  const auto caps = llm.capabilities();
  std::printf("Capabilities: scoring %s%s, tokenize %s, top logprobs up to %d, native n %s.\n", caps.scoring ? "yes" : "no",
              caps.scoring && !caps.scoring_exact ? " (approximate)" : "", caps.tokenize ? "yes" : "no",
              caps.max_top_logprobs, caps.native_n ? "yes" : "no (emulated)");

  selfalign::generation_request request;
  request.prompt = selfalign::prompt::chat({selfalign::message::system("Answer in one short sentence."),
                                            selfalign::message::user("Why is the sky blue?")});
  request.sampling.max_tokens = 64;
  request.sampling.temperature = 0.0;
  request.sampling.seed = 1;
  auto answer = llm.generate(request);
  if (!answer) {
    std::printf("The server answered the probe but not the question: %s\n", answer.error().describe().c_str());
    return 0;
  }
  std::printf("Answer: %s\n(%lld prompt + %lld completion tokens)\n", answer->text().c_str(),
              static_cast<long long>(answer->usage.prompt_tokens), static_cast<long long>(answer->usage.completion_tokens));
  return 0;
}
