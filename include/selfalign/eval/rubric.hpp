// selfalign: eval::rubric — just-eval-style multi-aspect scoring (DRPO's evaluation): each answer
// scored 1-5 with a rationale on helpfulness, clarity, factuality, depth, engagement and safety
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/eval/evaluation.hpp>
#include <selfalign/eval/run.hpp>
#include <selfalign/judges/aspects.hpp>
#include <selfalign/seed.hpp>

#include <optional>
#include <span>
#include <string>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace eval {

/// The six aspects of just-eval-instruct (the benchmark DRPO reports on).
[[nodiscard]] SELFALIGN_DECL std::vector<std::string> just_eval_aspects();

struct rubric_options {
  std::vector<std::string> aspects = just_eval_aspects();
  judges::aspect_catalogue catalogue = judges::default_aspects();  ///< rubric texts of the aspects
};

/// Scores every answer on the aspects with any Judge (judges::rubric_judge over a strong model,
/// a reward-model adapter, a scripted judge). Metrics: overall (the judgement's score: the mean
/// of the aspects) and one mean per aspect (group "aspect"), each with its interval. A judgement
/// that could not be read (parse_status::failed, no score) is a failure: excluded, counted.
/// A judgement missing an aspect's score leaves that aspect out for the item.
template <Judge J>
[[nodiscard]] evaluation rubric(J& judge, std::span<const answer_input> inputs, const rubric_options& opt = {},
                                const run_settings& rs = {}) {
  evaluation ev = detail::start_evaluation("rubric", inputs, rs, &answer_input::response);
  std::vector<criterion> criteria;
  ev.metrics.push_back({"overall", "mean of the aspect scores (1-5)", metric_kind::mean, "overall", "", false, "", {}});
  for (const auto& name : opt.aspects) {
    criteria.push_back(opt.catalogue.resolve(name).to_criterion());
    ev.metrics.push_back({name, "mean " + name + " score (1-5)", metric_kind::mean, name, "", false, "aspect", {}});
  }
  // Built explicitly: `ev.extra = {{...}}` over a non-empty value leaked that value with Clang 14
  // (LeakSanitizer, CI's clang configuration); the explicit temporary does not.
  ev.extra = nlohmann::json{{"aspects", opt.aspects}};
  std::optional<selfalign::error> stop;
  const std::size_t n = ev.items.size();
  const std::size_t chunk = rs.chunk_size == 0 ? 1 : rs.chunk_size;
  const batch_options batch{rs.max_concurrency == 0 ? 1 : rs.max_concurrency, rs.stop};
  for (std::size_t begin = 0; begin < n && !stop; begin += chunk) {
    if (rs.stop.stop_requested()) {
      stop = selfalign::error(errc::cancelled, "the evaluation was stopped");
      break;
    }
    const std::size_t end = std::min(n, begin + chunk);
    std::vector<judge_request> requests;
    for (std::size_t i = begin; i < end; ++i) {
      judge_request r;
      r.query = ev.items[i].query;
      r.response = ev.items[i].response;
      r.criteria = criteria;
      r.seed = derive_seed(rs.seed, "eval/rubric", ev.items[i].id);
      requests.push_back(std::move(r));
    }
    auto verdicts = judge_batch(judge, std::span<const judge_request>(requests), batch);
    for (std::size_t i = begin; i < end; ++i) {
      auto& v = verdicts[i - begin];
      item_record& it = ev.items[i];
      if (!v) {
        if (v.error().code == errc::parse_failure) {
          it.failure = "unreadable: " + v.error().message;
          continue;
        }
        if (v.error().code == errc::context_overflow) {
          it.failure = "too long for the judge: " + v.error().message;
          continue;
        }
        if (!stop) stop = v.error();
        continue;
      }
      it.judge_usage = v->usage;
      it.detail["raw"] = v->raw;
      it.detail["attempts"] = v->attempts;
      it.detail["status"] = to_string(v->status);
      if (!v->ok()) {
        it.failure = "unreadable: " + (v->rationale.empty() ? std::string("the judge output could not be read") : v->rationale);
        continue;
      }
      it.evaluated = true;
      it.values["overall"] = *v->score;
      nlohmann::json scores = nlohmann::json::object();
      for (const auto& cs : v->criteria) {
        for (const auto& name : opt.aspects)
          if (judges::normalize_aspect_name(name) == judges::normalize_aspect_name(cs.name)) it.values[name] = cs.score;
        scores[cs.name] = {{"score", cs.score}, {"rationale", cs.rationale}};
      }
      it.detail["scores"] = scores;
      it.detail["rationale"] = v->rationale;
    }
    if (rs.on_progress) rs.on_progress(end, n);
  }
  detail::finish_run(ev, stop);
  for (const auto& name : opt.aspects) {
    const metric* m = ev.find(name);
    ev.counts[name + "_scored"] = m ? m->value.n : 0;
  }
  return ev;
}

}  // namespace eval
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/eval/impl/rubric.ipp>
#endif
