// selfalign: scripted_judge — a Judge that scores by rules and records every request
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace testing {

/// A Judge for tests. The first rule whose substring occurs in the response decides the score;
/// otherwise the default score applies. Each requested criterion gets the rule's score (so the
/// overall score equals it). A rule can also produce a parse failure or an error. Copies share
/// rules and the record of requests.
class scripted_judge {
 public:
  explicit scripted_judge(double default_score = 3.0) : s_(std::make_shared<state>()) { s_->fallback = default_score; }

  scripted_judge& on(std::string response_substring, double score, std::string rationale = {}) {
    std::lock_guard lock(s_->mutex);
    s_->rules.push_back({std::move(response_substring), score, std::move(rationale), false, std::nullopt});
    return *this;
  }
  /// Responses containing `substring` get a judgement with parse_status::failed and no score.
  scripted_judge& unparseable_on(std::string substring) {
    std::lock_guard lock(s_->mutex);
    s_->rules.push_back({std::move(substring), 0.0, {}, true, std::nullopt});
    return *this;
  }
  scripted_judge& fail_on(std::string substring, error e) {
    std::lock_guard lock(s_->mutex);
    s_->rules.push_back({std::move(substring), 0.0, {}, false, std::move(e)});
    return *this;
  }

  [[nodiscard]] result<judgement> judge(const judge_request& req) {
    std::lock_guard lock(s_->mutex);
    s_->calls.push_back(req);
    double score = s_->fallback;
    std::string why = "default";
    for (const auto& r : s_->rules) {
      if (req.response.find(r.substring) == std::string::npos) continue;
      if (r.failure) return unexpected(*r.failure);
      if (r.unparseable) {
        judgement j;
        j.status = parse_status::failed;
        j.raw = "<scripted unparseable output>";
        return j;
      }
      score = r.score;
      why = r.rationale.empty() ? "matched '" + r.substring + "'" : r.rationale;
      break;
    }
    judgement j;
    j.score = score;
    j.rationale = why;
    for (const auto& c : req.criteria) j.criteria.push_back({c.name, score, why});
    j.usage.requests = 1;
    return j;
  }

  /// The mock is thread-safe: any number of calls at once.
  [[nodiscard]] static constexpr std::size_t max_concurrent_calls() noexcept { return 0; }

  /// Every request received, in arrival order (call_count() is their number).
  [[nodiscard]] std::vector<judge_request> calls() const {
    std::lock_guard lock(s_->mutex);
    return s_->calls;
  }
  [[nodiscard]] std::size_t call_count() const {
    std::lock_guard lock(s_->mutex);
    return s_->calls.size();
  }

 private:
  struct rule {
    std::string substring;
    double score;
    std::string rationale;
    bool unparseable;
    std::optional<error> failure;
  };
  struct state {
    std::mutex mutex;
    std::vector<rule> rules;
    double fallback = 3.0;
    std::vector<judge_request> calls;
  };
  std::shared_ptr<state> s_;
};

static_assert(Judge<scripted_judge>);

}  // namespace testing
SELFALIGN_END_NAMESPACE
