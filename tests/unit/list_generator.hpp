// selfalign unit tests: list_generator — a MultiPromptGenerator that records every request it gets,
// a list of prompts (generate_multi) or a single prompt (generate), for the wrapper tests.
#pragma once

#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace selfalign_test {

/// Answers "re:<prompt>" with usage prompt_tokens = the prompt's bytes, completion_tokens 2. A list
/// is one request (the first answer carries requests = 1); a prompt "fail" fails its whole request.
/// Copies share the log.
struct list_generator {
  struct log_state {
    std::mutex mutex;
    std::vector<std::vector<std::string>> lists;  // the prompts of each generate_multi call
    std::vector<std::string> singles;             // the prompt of each generate call
  };
  std::shared_ptr<log_state> log = std::make_shared<log_state>();
  int max_prompts = -1;

  [[nodiscard]] selfalign::capabilities capabilities() const {
    selfalign::capabilities c;
    c.max_prompts = max_prompts;
    c.max_concurrent_calls = 0;
    c.default_model = "list-model";
    return c;
  }
  selfalign::result<selfalign::generation> generate(const selfalign::generation_request& r) {
    {
      std::lock_guard lock(log->mutex);
      log->singles.push_back(r.prompt.raw_text());
    }
    if (r.prompt.raw_text() == "fail") return selfalign::fail(selfalign::errc::bad_response, "the server failed");
    return answer(r, 1);
  }
  selfalign::result<std::vector<selfalign::generation>> generate_multi(std::span<const selfalign::generation_request> rs) {
    std::vector<std::string> prompts;
    bool failed = false;
    for (const auto& r : rs) {
      prompts.push_back(r.prompt.raw_text());
      failed = failed || r.prompt.raw_text() == "fail";
    }
    {
      std::lock_guard lock(log->mutex);
      log->lists.push_back(prompts);
    }
    if (failed) return selfalign::fail(selfalign::errc::bad_response, "the server failed the list");
    std::vector<selfalign::generation> out;
    for (const auto& r : rs) out.push_back(answer(r, out.empty() ? 1 : 0));
    return out;
  }
  [[nodiscard]] std::size_t requests() const {
    std::lock_guard lock(log->mutex);
    return log->lists.size() + log->singles.size();
  }

  static selfalign::generation answer(const selfalign::generation_request& r, std::int64_t requests) {
    selfalign::generation g;
    selfalign::completion c;
    c.text = "re:" + r.prompt.raw_text();
    c.finish_reason = "stop";
    g.choices.push_back(c);
    g.usage.prompt_tokens = static_cast<std::int64_t>(r.prompt.raw_text().size());
    g.usage.completion_tokens = 2;
    g.usage.requests = requests;
    return g;
  }
};

inline std::vector<selfalign::generation_request> list_requests(const std::vector<std::string>& prompts) {
  std::vector<selfalign::generation_request> rs;
  for (const auto& p : prompts) {
    selfalign::generation_request r;
    r.prompt = selfalign::prompt::text(p);
    r.sampling.max_tokens = 4;
    r.sampling.temperature = 0;
    rs.push_back(std::move(r));
  }
  return rs;
}

}  // namespace selfalign_test
