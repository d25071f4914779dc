// selfalign: scripted_generator — a Generator that answers by rules and records every call
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace testing {

/// One scripted answer: the text, and optionally its tokens with logprobs and ids.
struct scripted_reply {
  std::string text;
  std::vector<token_logprob> tokens;  ///< returned when the request asks for logprobs
  std::vector<token_id> token_ids;
  std::string finish_reason = "stop";

  scripted_reply() = default;
  scripted_reply(std::string t) : text(std::move(t)) {}  // NOLINT: implicit for brevity in tests
  scripted_reply(const char* t) : text(t) {}             // NOLINT
};

/// Counts words the way the testing kit bills tokens: whitespace-separated pieces.
[[nodiscard]] inline std::int64_t count_words(std::string_view s) {
  std::int64_t n = 0;
  bool in_word = false;
  for (char c : s) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

/// A Generator for tests. Rules are tried in the order they were added; the first whose pattern
/// matches the prompt (all prompt text, see prompt::flatten) answers. A rule with several replies
/// gives them in sequence and then repeats the last. Unmatched prompts get the default reply, or
/// errc::invalid_argument naming the prompt when there is none.
///
/// Usage is billed deterministically: prompt tokens = words in the prompt, completion tokens =
/// words in the reply. Copies share their rules and their record of calls, so a test can keep
/// one copy and hand another to the code under test.
class scripted_generator {
 public:
  scripted_generator() : s_(std::make_shared<state>()) {}

  /// Answers prompts containing `substring` with `replies`, in order.
  scripted_generator& on(std::string substring, std::vector<scripted_reply> replies) {
    std::lock_guard lock(s_->mutex);
    s_->rules.push_back(rule{std::move(substring), std::nullopt, std::move(replies), std::nullopt, 0});
    return *this;
  }
  /// Answers prompts that the ECMAScript regex `pattern` matches (search, not full match).
  scripted_generator& on_regex(const std::string& pattern, std::vector<scripted_reply> replies) {
    std::lock_guard lock(s_->mutex);
    s_->rules.push_back(rule{pattern, std::regex(pattern), std::move(replies), std::nullopt, 0});
    return *this;
  }
  /// Fails prompts containing `substring` with `e`.
  scripted_generator& fail_on(std::string substring, error e) {
    std::lock_guard lock(s_->mutex);
    s_->rules.push_back(rule{std::move(substring), std::nullopt, {}, std::move(e), 0});
    return *this;
  }
  /// The reply for prompts no rule matches.
  scripted_generator& otherwise(scripted_reply reply) {
    std::lock_guard lock(s_->mutex);
    s_->fallback = std::move(reply);
    return *this;
  }
  /// Makes every call wait until `n` calls are in flight at once (or `timeout` passes), so a test
  /// can prove that a batch really runs n calls concurrently by counting, not timing.
  scripted_generator& hold_until_in_flight(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::lock_guard lock(s_->mutex);
    s_->hold = n;
    s_->hold_timeout = timeout;
    return *this;
  }

  /// What the mock reports through capabilities() (capabilities_of): by default the full set and
  /// any number of calls at once (it is thread-safe). Narrow it to test an algorithm's up-front
  /// checks, or set max_concurrent_calls to test how an executor limits calls.
  scripted_generator& with_capabilities(selfalign::capabilities c) {
    std::lock_guard lock(s_->mutex);
    s_->caps = std::move(c);
    return *this;
  }
  [[nodiscard]] selfalign::capabilities capabilities() const {
    std::lock_guard lock(s_->mutex);
    return s_->caps;
  }

  [[nodiscard]] result<generation> generate(const generation_request& req) {
    const std::string text = req.prompt.flatten();
    std::unique_lock lock(s_->mutex);
    s_->calls.push_back(req);
    ++s_->in_flight;
    s_->max_in_flight = std::max(s_->max_in_flight, s_->in_flight);
    s_->changed.notify_all();
    if (s_->hold > 0)
      s_->changed.wait_for(lock, s_->hold_timeout, [&] { return s_->in_flight >= s_->hold || s_->released; });
    if (s_->hold > 0 && s_->in_flight >= s_->hold) {
      s_->released = true;  // once the target was reached, nobody waits any more
      s_->changed.notify_all();
    }
    --s_->in_flight;

    generation g;
    g.model = req.model.empty() ? "scripted" : req.model;
    const int n = std::max(1, req.sampling.n);
    rule* r = match(text);
    if (r && r->failure) return unexpected(*r->failure);
    if (!r && !s_->fallback)
      return fail(errc::invalid_argument, "scripted_generator: no rule matches the prompt: " + text.substr(0, 200));
    for (int i = 0; i < n; ++i) {
      scripted_reply reply;
      if (r) {
        const std::size_t idx = std::min(r->next, r->replies.size() - 1);
        reply = r->replies[idx];
        if (r->next < r->replies.size()) ++r->next;
      } else {
        reply = *s_->fallback;
      }
      completion c;
      c.text = reply.text;
      c.finish_reason = reply.finish_reason;
      c.token_ids = reply.token_ids;
      if (req.sampling.logprobs >= 0) {
        c.tokens = reply.tokens;
        for (auto& t : c.tokens)
          if (static_cast<int>(t.top.size()) > req.sampling.logprobs) t.top.resize(static_cast<std::size_t>(req.sampling.logprobs));
      }
      g.usage.completion_tokens += c.tokens.empty() ? count_words(c.text) : static_cast<std::int64_t>(c.tokens.size());
      g.choices.push_back(std::move(c));
    }
    g.usage.prompt_tokens = count_words(text);
    g.usage.requests = 1;
    return g;
  }

  /// Every request received, in arrival order (call_count() is their number).
  [[nodiscard]] std::vector<generation_request> calls() const {
    std::lock_guard lock(s_->mutex);
    return s_->calls;
  }
  [[nodiscard]] std::size_t call_count() const {
    std::lock_guard lock(s_->mutex);
    return s_->calls.size();
  }
  /// Calls whose prompt contains `substring`.
  [[nodiscard]] std::size_t calls_containing(std::string_view substring) const {
    std::lock_guard lock(s_->mutex);
    return static_cast<std::size_t>(std::count_if(s_->calls.begin(), s_->calls.end(), [&](const generation_request& r) {
      return r.prompt.flatten().find(substring) != std::string::npos;
    }));
  }
  /// The most calls that were ever in flight at once.
  [[nodiscard]] std::size_t max_in_flight() const {
    std::lock_guard lock(s_->mutex);
    return s_->max_in_flight;
  }
  void clear_calls() {
    std::lock_guard lock(s_->mutex);
    s_->calls.clear();
  }

 private:
  struct rule {
    std::string pattern;
    std::optional<std::regex> re;
    std::vector<scripted_reply> replies;
    std::optional<error> failure;
    std::size_t next = 0;
  };
  struct state {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<rule> rules;
    std::optional<scripted_reply> fallback;
    std::vector<generation_request> calls;
    std::size_t in_flight = 0, max_in_flight = 0, hold = 0;
    bool released = false;
    std::chrono::milliseconds hold_timeout{5000};
    selfalign::capabilities caps = [] {
      selfalign::capabilities c;
      c.max_concurrent_calls = 0;
      return c;
    }();
  };

  rule* match(const std::string& text) {
    for (auto& r : s_->rules) {
      const bool hit = r.re ? std::regex_search(text, *r.re) : text.find(r.pattern) != std::string::npos;
      if (hit && (r.failure || !r.replies.empty())) return &r;
    }
    return nullptr;
  }

  std::shared_ptr<state> s_;
};

static_assert(Generator<scripted_generator>);

}  // namespace testing
SELFALIGN_END_NAMESPACE
