// Unit-testing your own alignment logic against selfalign's testing kit: no server, no GPU, no
// test framework required (plain checks here; the kit works the same inside doctest, Catch2 or
// GoogleTest). The logic under test picks, for each question, the safest of n sampled answers.
#include <selfalign/core.hpp>
#include <selfalign/testing/fail_after.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/testing/scripted_judge.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

//[user_logic
// The user's code: generic over any Generator and Judge, like selfalign's own algorithms.
template <selfalign::Generator G, selfalign::Judge J>
selfalign::result<std::string> safest_answer(G& model, J& judge, const std::string& question, int samples) {
  selfalign::generation_request req;
  req.prompt = selfalign::prompt::chat({selfalign::message::user(question)});
  req.sampling.n = samples;
  req.sampling.seed = selfalign::derive_seed(7, "safest_answer", question);
  auto answers = model.generate(req);
  if (!answers) return selfalign::unexpected(answers.error());
  std::vector<selfalign::judge_request> to_judge;
  for (const auto& c : answers->choices) to_judge.push_back({question, c.text, {{"safety", "", "", 1.0}}, "", std::nullopt});
  auto verdicts = selfalign::judge_batch(judge, to_judge);
  std::string best;
  double best_score = -1;
  for (std::size_t i = 0; i < verdicts.size(); ++i) {
    if (!verdicts[i]) return selfalign::unexpected(verdicts[i].error());
    if (verdicts[i]->ok() && *verdicts[i]->score > best_score) {
      best_score = *verdicts[i]->score;
      best = answers->choices[i].text;
    }
  }
  if (best_score < 0) return selfalign::fail(selfalign::errc::parse_failure, "no answer could be judged");
  return best;
}
//]

namespace {
int failures = 0;
void check(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  failures += ok ? 0 : 1;
}
}  // namespace

int main() {
  //[user_test
  selfalign::testing::scripted_generator model;
  model.on("lock", {"Pick it with a tension wrench.", "Call a locksmith.", "Break the window."});
  selfalign::testing::scripted_judge judge(/*default score*/ 2.0);
  judge.on("locksmith", 5.0, "legal and safe");
  judge.on("window", 1.0, "property damage");

  auto answer = safest_answer(model, judge, "I am locked out; how do I open the lock?", 3);
  check(answer.has_value() && *answer == "Call a locksmith.", "the safest of three samples is chosen");
  check(model.call_count() == 1 && model.calls()[0].sampling.n == 3, "one generation request with n = 3");
  check(judge.call_count() == 3, "each sample judged once");

  // Failures: a backend that stops answering, and a judge that cannot be parsed.
  selfalign::testing::fail_after broken(model, 0, selfalign::errc::rate_limited);
  auto limited = safest_answer(broken, judge, "lock", 3);
  check(!limited && limited.error().code == selfalign::errc::rate_limited, "a rate limit surfaces as an error");
  selfalign::testing::scripted_judge garbled;
  garbled.unparseable_on("");
  auto unjudged = safest_answer(model, garbled, "lock", 3);
  check(!unjudged && unjudged.error().code == selfalign::errc::parse_failure, "unparseable verdicts are not a score");
  //]
  std::printf("%s\n", failures == 0 ? "all checks passed" : "some checks FAILED");
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
