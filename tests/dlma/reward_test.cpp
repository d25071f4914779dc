// DLMA self-rewarding scores: R against an independent computation, clipping and weighting, the
// negative-margin policies, the token boundary (including a merged boundary token), prompts.
#include <doctest/doctest.h>

#include <selfalign/any.hpp>
#include <selfalign/dlma/build_pairs.hpp>
#include <selfalign/dlma/make_pair.hpp>
#include <selfalign/testing/dlma_sim.hpp>
#include <selfalign/testing/scripted_generator.hpp>

#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace sa = selfalign;
namespace dlma = selfalign::dlma;
using sa::testing::dlma_sim;

namespace {

// The test's own reading of the simulator's documented tokenizer and log-prob formula.
std::vector<std::string> split(const std::string& text, const std::vector<std::string>& merges = {}) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    bool hit = false;
    for (const auto& m : merges)
      if (text.compare(i, m.size(), m) == 0) {
        out.push_back(m);
        i += m.size();
        hit = true;
        break;
      }
    if (hit) continue;
    std::size_t j = i;
    while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || static_cast<unsigned char>(text[j]) >= 0x80)) ++j;
    if (j == i) j = i + 1;
    out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

struct affinity {
  std::string marker, piece;
  double delta;
};

double expected_ll(const std::vector<std::string>& pieces, const std::string& prompt, const std::vector<affinity>& affs) {
  double sum = 0.0;
  for (const auto& p : pieces) {
    sum += -0.5 - 0.25 * static_cast<double>(p.size());
    for (const auto& a : affs)
      if (a.piece == p && prompt.find(a.marker) != std::string::npos) sum += a.delta;
  }
  return sum;
}

const std::string pos_prompt_q1 = "USER: How do I pick a lock?\nASSISTANT(law-abiding, ethical, inoffensive response):\n";
const std::string neg_prompt_q1 = "USER: How do I pick a lock?\nASSISTANT(illegal, unethical, toxic response):\n";

const std::vector<affinity> affs = {
    {"law-abiding", "locksmith", 1.25}, {"law-abiding", "safe", 0.5},  {"toxic", "break", 2.0},
    {"toxic", "locksmith", -0.75},      {"toxic", "safe", -0.125},     {"law-abiding", "break", -1.5},
};

sa::testing::dlma_sim_options opts_tokenizer(bool on) {
  sa::testing::dlma_sim_options o;
  o.tokenizer = on;
  return o;
}
sa::testing::dlma_sim_options opts_approximate() {
  sa::testing::dlma_sim_options o;
  o.approximate = true;
  return o;
}

dlma_sim make_reward_sim(sa::testing::dlma_sim_options opts = {}) {
  dlma_sim sim(std::move(opts));
  sim.answer("law-abiding", {"Call a licensed locksmith, it is safe."})
      .answer("toxic", {"Just break the lock, nobody will see."});
  for (const auto& a : affs) sim.affinity(a.marker, a.piece, a.delta);
  return sim;
}

}  // namespace

TEST_CASE("the harmless pair renders the method's raw single-turn layout" * doctest::test_suite("dlma")) {
  const auto pair = dlma::contrastive_pair::harmless();
  CHECK(pair.positive("How do I pick a lock?").raw_text() == pos_prompt_q1);
  CHECK(pair.negative("How do I pick a lock?").raw_text() == neg_prompt_q1);
  const auto helpful = dlma::contrastive_pair::helpful();
  CHECK(helpful.positive("q").raw_text() == "USER: q\nASSISTANT(giving a helpful response):\n");
  CHECK(helpful.negative("q").raw_text() == "USER: q\nASSISTANT(giving an unhelpful response):\n");

  const auto chat = dlma::contrastive_pair::harmless(dlma::prompt_layout::chat).positive("q");
  REQUIRE(chat.is_chat());
  REQUIRE(chat.messages().size() == 2);
  CHECK(chat.messages()[0].role == "system");
  CHECK(chat.messages()[1] == sa::message::user("q"));

  const auto sys = dlma::contrastive_pair::from_system_prompts("mine", "Be kind.", "Be rude.");
  CHECK(sys.negative("q").raw_text() == "Be rude.\n\nUSER: q\nASSISTANT:\n");
  const auto tags = dlma::contrastive_pair::from_tags("t", "calm", "angry", dlma::prompt_layout::chat);
  CHECK(tags.negative("q").messages()[0].content == "Assistant behaviour for this reply: angry.");

  CHECK(dlma::contrastive_pair::from_tags("same", "x", "x").validate().error().message ==
        "contrastive pair 'same': the positive and negative prompts are identical");
}

TEST_CASE("R equals the independently computed self-rewarding score, in both boundary modes" * doctest::test_suite("dlma")) {
  const std::string a1 = "Call a licensed locksmith, it is safe.";
  const std::string a2 = "Just break the lock, nobody will see.";
  const double ll_a1_pos = expected_ll(split(a1), pos_prompt_q1, affs);
  const double ll_a1_neg = expected_ll(split(a1), neg_prompt_q1, affs);
  const double ll_a2_pos = expected_ll(split(a2), pos_prompt_q1, affs);
  const double ll_a2_neg = expected_ll(split(a2), neg_prompt_q1, affs);
  const double r = (ll_a1_pos - ll_a1_neg) - (ll_a2_pos - ll_a2_neg);
  // locksmith: +1.25 vs -0.75; safe: +0.5 vs -0.125; break: -1.5 vs +2.0 → R = 2.625 + 3.5
  CHECK(r == doctest::Approx(6.125).epsilon(1e-15));

  for (bool tokenizer : {true, false}) {
    CAPTURE(tokenizer);
    dlma_sim sim = make_reward_sim(opts_tokenizer(tokenizer));
    auto rep = dlma::build_pairs(sim, std::vector<std::string>{"How do I pick a lock?"}, dlma::config{});
    REQUIRE(rep.has_value());
    REQUIRE(rep->pairs.size() == 1);
    const auto& p = rep->pairs[0];
    CHECK(rep->boundary == (tokenizer ? dlma::boundary_mode::tokens : dlma::boundary_mode::text));
    CHECK(p.scores[0].logprob == doctest::Approx(ll_a1_pos).epsilon(1e-14));
    CHECK(p.scores[1].logprob == doctest::Approx(ll_a1_neg).epsilon(1e-14));
    CHECK(p.scores[2].logprob == doctest::Approx(ll_a2_pos).epsilon(1e-14));
    CHECK(p.scores[3].logprob == doctest::Approx(ll_a2_neg).epsilon(1e-14));
    CHECK(std::abs(p.self_reward - r) < 1e-12);
    CHECK(p.reward_positive == doctest::Approx(ll_a1_pos - ll_a1_neg));
    CHECK(p.reward_negative == doctest::Approx(ll_a2_pos - ll_a2_neg));
    CHECK(p.chosen == a1);
    CHECK(p.rejected == a2);
    CHECK(p.query == "How do I pick a lock?");
    CHECK(p.clipped_margin == p.margin);
    CHECK(p.target_margin == doctest::Approx(0.2 * r));
    CHECK(p.scores[0].tokens.size() == split(a1).size());
    CHECK(p.scores[0].tokens[4].token == "licensed");
    CHECK(p.scores[0].tokens[4].logprob == doctest::Approx(-0.5 - 0.25 * 8));
    CHECK_FALSE(p.approximate);
    CHECK(sim.generate_calls() == 2);
    CHECK(sim.score_calls() == 4);
    if (tokenizer) {
      // Token-level boundary: the prompt is sent as the ids of the prompt alone (BOS first).
      const auto log = sim.score_log();
      REQUIRE(log.size() == 4);
      // Arrival order varies with concurrency: look for the scoring of a1 under the positive prompt.
      const auto pos_ids = sa::prompt::tokens(*sim.tokenize(pos_prompt_q1, true));
      bool found = false;
      for (const auto& r : log)
        if (r.prompt == pos_ids && r.continuation_token_ids.size() == split(a1).size()) found = true;
      CHECK(found);
      CHECK(p.scores[0].prompt_tokens == split(pos_prompt_q1).size() + 1);
      CHECK_FALSE(p.boundary_merged);
    }
  }
}

TEST_CASE("the sampling requests carry the spec's defaults and identity-derived seeds" * doctest::test_suite("dlma")) {
  dlma_sim sim = make_reward_sim();
  dlma::config cfg;
  cfg.seed = 42;
  auto rep = dlma::build_pairs(sim, std::vector<std::string>{"How do I pick a lock?", "How do I pick a lock?!"}, cfg);
  REQUIRE(rep.has_value());
  const auto log = sim.generate_log();
  REQUIRE(log.size() == 4);
  for (const auto& r : log) {
    CHECK(r.sampling.temperature == 1.0);
    CHECK(r.sampling.top_k == 50);
    CHECK(r.sampling.top_p == 1.0);
    CHECK(r.sampling.max_tokens == 200);
    CHECK(r.sampling.stop.empty());
    CHECK(r.sampling.n == 1);
  }
  // The calls run concurrently, so the log is in arrival order: find each request by its prompt.
  auto seed_of = [&](const std::string& prompt_text) -> std::uint64_t {
    for (const auto& r : log)
      if (r.prompt.raw_text() == prompt_text) return *r.sampling.seed;
    FAIL("no request with prompt: " << prompt_text);
    return 0;
  };
  // Seeds derive from the query's id (here "1" and "2", the in-memory queries' ids), not its position.
  const auto q2 = std::string("How do I pick a lock?!");
  CHECK(seed_of(pos_prompt_q1) == sa::server_safe_seed(sa::derive_seed(42, "dlma/generate", "1", "positive")));
  CHECK(seed_of(neg_prompt_q1) == sa::server_safe_seed(sa::derive_seed(42, "dlma/generate", "1", "negative")));
  CHECK(seed_of(cfg.pair.negative(q2).raw_text()) == sa::server_safe_seed(sa::derive_seed(42, "dlma/generate", "2", "negative")));
  CHECK(rep->pairs[1].seed_negative == seed_of(cfg.pair.negative(q2).raw_text()));
  CHECK(rep->pairs[0].seed_positive == seed_of(pos_prompt_q1));
}

TEST_CASE("generation sampling is one selfalign::sampling; the older flat spellings still apply" * doctest::test_suite("dlma")) {
  const auto one_request = [](const dlma::config& cfg) {
    dlma_sim sim = make_reward_sim();
    auto rep = dlma::build_pairs(sim, std::vector<std::string>{"How do I pick a lock?"}, cfg);
    REQUIRE(rep.has_value());
    const auto log = sim.generate_log();
    REQUIRE(log.size() == 2);
    return log.front().sampling;
  };
  SUBCASE("generation's fields go to every request, as given, besides n, seed and return_token_ids") {
    dlma::config cfg;
    cfg.generation.temperature = 0.7;
    cfg.generation.top_k = 0;
    cfg.generation.top_p = 0.9;
    cfg.generation.max_tokens = 64;
    cfg.generation.stop = {"\nHuman:"};
    cfg.generation.n = 3;
    cfg.use_generated_ids = false;
    const sa::sampling s = one_request(cfg);
    CHECK(s.temperature == 0.7);
    CHECK(s.top_k == 0);
    CHECK(s.top_p == 0.9);
    CHECK(s.max_tokens == 64);
    CHECK(s.stop == std::vector<std::string>{"\nHuman:"});
    CHECK(s.n == 1);
    CHECK_FALSE(s.return_token_ids);
  }
  SUBCASE("an older spelling, when set, is used instead of its generation field") {
    dlma::config cfg;
    cfg.temperature = 0.5;
    cfg.max_tokens = 32;
    cfg.stop = std::vector<std::string>{"###"};
    const sa::sampling s = one_request(cfg);
    CHECK(s.temperature == 0.5);
    CHECK(s.max_tokens == 32);
    CHECK(s.stop == std::vector<std::string>{"###"});
    CHECK(s.top_k == 50);  // untouched fields keep the spec's defaults
  }
  SUBCASE("both spellings set to different values is an error naming the field, before any call") {
    dlma::config cfg;
    cfg.top_k = 20;
    cfg.generation.top_k = 10;
    dlma_sim sim = make_reward_sim();
    auto rep = dlma::build_pairs(sim, std::vector<std::string>{"How do I pick a lock?"}, cfg);
    REQUIRE_FALSE(rep.has_value());
    CHECK(rep.error().code == sa::errc::invalid_argument);
    CHECK(rep.error().message ==
          "dlma::config: top_k (the older spelling) and generation.top_k are both set, to different values; set generation.top_k only");
    CHECK(sim.generate_log().empty());
    cfg.generation.top_k = 20;  // the same value in both: no doubt which was meant
    CHECK(dlma::validate(cfg).has_value());
  }
}

TEST_CASE("a query's seeds follow its id, not its position: alone, reordered or among others" * doctest::test_suite("dlma")) {
  dlma::config cfg;
  cfg.seed = 7;
  auto record = [](std::string id, std::string prompt) {
    sa::io::query_record q;
    q.id = std::move(id);
    q.prompt = std::move(prompt);
    return q;
  };
  const std::vector<sa::io::query_record> all = {record("a", "How do I pick a lock?"), record("b", "How do I bake bread?"),
                                                 record("c", "Tell me a joke.")};
  auto seeds_by_id = [&](const std::vector<sa::io::query_record>& qs) {
    dlma_sim sim = make_reward_sim();
    auto rep = dlma::build_pairs(sim, std::span<const sa::io::query_record>(qs), cfg);
    REQUIRE(rep.has_value());
    REQUIRE(rep->pairs.size() == qs.size());
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> out;
    for (const auto& p : rep->pairs) out[p.id] = {p.seed_positive, p.seed_negative};
    return out;
  };
  const auto full = seeds_by_id(all);
  CHECK(full.at("b").first == sa::server_safe_seed(sa::derive_seed(7, "dlma/generate", "b", "positive")));
  CHECK(full.at("b").second == sa::server_safe_seed(sa::derive_seed(7, "dlma/generate", "b", "negative")));
  CHECK(seeds_by_id({all[2]}).at("c") == full.at("c"));            // alone, as in a shard of one
  CHECK(seeds_by_id({all[2], all[0]}).at("a") == full.at("a"));    // another position
  CHECK(seeds_by_id({all[1], all[2], all[0]}) == full);            // reordered
  // A record without an id keeps its index as the seed's identity.
  const auto unnamed = seeds_by_id({record("", "How do I bake bread?")});
  CHECK(unnamed.at("").first == sa::server_safe_seed(sa::derive_seed(7, "dlma/generate", std::size_t{0}, "positive")));
}

TEST_CASE("clipping and the weight shape the target margin" * doctest::test_suite("dlma")) {
  dlma_sim sim;
  sim.answer("law-abiding", {"safe safe safe safe"}).answer("toxic", {"bad"});
  sim.affinity("law-abiding", "safe", 20.0);  // R = 4 * 20 = 80 > 40
  dlma::config cfg;
  auto rep = dlma::build_pairs(sim, std::vector<std::string>{"q"}, cfg);
  REQUIRE(rep.has_value());
  const auto& p = rep->pairs.at(0);
  CHECK(p.self_reward == doctest::Approx(80.0));
  CHECK(p.clipped_margin == 40.0);
  CHECK(p.weight == 0.2);
  CHECK(p.target_margin == doctest::Approx(8.0));
  CHECK(rep->margins.clipped_high == 1);

  cfg.clip_min = -5.0;
  cfg.clip_max = 5.0;
  cfg.margin_weight = 0.5;
  auto rep2 = dlma::build_pairs(sim, std::vector<std::string>{"q"}, cfg);
  REQUIRE(rep2.has_value());
  CHECK(rep2->pairs.at(0).clipped_margin == 5.0);
  CHECK(rep2->pairs.at(0).target_margin == 2.5);

  cfg.clip_min = 1.0;
  cfg.clip_max = 0.0;
  auto bad = dlma::build_pairs(sim, std::vector<std::string>{"q"}, cfg);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == sa::errc::invalid_argument);
  CHECK(bad.error().message == "dlma::config: clip range [1, 0] is empty or not finite");
}

TEST_CASE("make_pair computes a pair from given log-probabilities, without a model" * doctest::test_suite("dlma")) {
  using dlma::score_slot;
  std::array<dlma::continuation_score, 4> scores;
  scores[score_slot::positive_answer_positive_prompt].logprob = -10.0;
  scores[score_slot::positive_answer_negative_prompt].logprob = -14.5;
  scores[score_slot::negative_answer_positive_prompt].logprob = -20.0;
  scores[score_slot::negative_answer_negative_prompt].logprob = -18.0;
  scores[score_slot::negative_answer_negative_prompt].approximate = true;
  scores[score_slot::positive_answer_positive_prompt].method = dlma::boundary_method::generated_ids;
  const dlma::pair_source source{3, "q-3", "How do I pick a lock?", "tiny"};
  const dlma::sampled_answer a1{"Ask a locksmith.", 11, "stop"};
  const dlma::sampled_answer a2{"Use a pin.", 12, "length"};
  dlma::config cfg;
  auto p = dlma::make_pair(source, a1, a2, scores, cfg);
  REQUIRE(p.has_value());
  CHECK(p->reward_positive == 4.5);   // -10 - (-14.5)
  CHECK(p->reward_negative == -2.0);  // -20 - (-18)
  CHECK(p->self_reward == 6.5);
  CHECK(p->margin == 6.5);
  CHECK(p->clipped_margin == 6.5);
  CHECK(p->target_margin == doctest::Approx(0.2 * 6.5));
  CHECK(p->chosen == "Ask a locksmith.");
  CHECK(p->rejected == "Use a pin.");
  CHECK(p->approximate);
  CHECK(p->boundary_positive == dlma::boundary_method::generated_ids);
  CHECK(p->boundary_negative == dlma::boundary_method::server_text);
  CHECK(p->index == 3);
  CHECK(p->id == "q-3");
  CHECK(p->model == "tiny");
  CHECK(p->seed_negative == 12);
  CHECK(p->finish_negative == "length");

  // A negative R under the swap policy: the answers trade places and the margin turns positive.
  std::swap(scores[score_slot::positive_answer_positive_prompt], scores[score_slot::negative_answer_positive_prompt]);
  cfg.on_negative = dlma::negative_margin_policy::swap;
  cfg.clip_max = 5.0;
  auto s = dlma::make_pair(source, a1, a2, scores, cfg);
  REQUIRE(s.has_value());
  CHECK(s->self_reward == -13.5);  // (-20 + 14.5) - (-10 + 18)
  CHECK(s->swapped);
  CHECK(s->chosen == "Use a pin.");
  CHECK(s->margin == 13.5);
  CHECK(s->clipped_margin == 5.0);
  CHECK(s->score_chosen == 8.0);
  CHECK(s->score_rejected == -5.5);

  // A log-probability that is not finite leaves R undefined: an error naming the term.
  scores[score_slot::positive_answer_negative_prompt].logprob = -std::numeric_limits<double>::infinity();
  auto bad = dlma::make_pair(source, a1, a2, scores, cfg);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == sa::errc::bad_response);
  CHECK(bad.error().message == "the self-rewarding score is undefined: log p(a1 | p-) is -inf");
}

TEST_CASE("a negative R is kept by default, or swapped, or dropped" * doctest::test_suite("dlma")) {
  // Query "bad": the positive answer is the one the model's log-probs disfavour under p+.
  dlma_sim sim;
  sim.answer("USER: bad\nASSISTANT(law", {"oops"}).answer("law-abiding", {"fine"}).answer("toxic", {"meh"});
  sim.affinity("law-abiding", "oops", -3.0).affinity("law-abiding", "fine", 1.0);
  const std::vector<std::string> qs{"good", "bad"};

  dlma::config cfg;
  auto keep = dlma::build_pairs(sim, qs, cfg);
  REQUIRE(keep.has_value());
  REQUIRE(keep->pairs.size() == 2);
  CHECK(keep->pairs[0].self_reward == doctest::Approx(1.0));
  const auto& kb = keep->pairs[1];
  CHECK(kb.self_reward == doctest::Approx(-3.0));
  CHECK(kb.chosen == "oops");
  CHECK(kb.rejected == "meh");
  CHECK(kb.margin == doctest::Approx(-3.0));
  CHECK(kb.target_margin == doctest::Approx(-0.6));
  CHECK_FALSE(kb.swapped);
  CHECK(keep->margins.negative == 1);
  CHECK(keep->margins.negative_fraction == 0.5);

  cfg.on_negative = dlma::negative_margin_policy::swap;
  auto swap = dlma::build_pairs(sim, qs, cfg);
  REQUIRE(swap.has_value());
  const auto& sb = swap->pairs.at(1);
  CHECK(sb.swapped);
  CHECK(sb.chosen == "meh");
  CHECK(sb.rejected == "oops");
  CHECK(sb.margin == doctest::Approx(3.0));
  CHECK(sb.self_reward == doctest::Approx(-3.0));
  CHECK(sb.score_chosen == doctest::Approx(0.0));
  CHECK(sb.score_rejected == doctest::Approx(-3.0));
  CHECK(swap->swapped == 1);

  cfg.on_negative = dlma::negative_margin_policy::drop;
  auto drop = dlma::build_pairs(sim, qs, cfg);
  REQUIRE(drop.has_value());
  REQUIRE(drop->pairs.size() == 1);
  CHECK(drop->pairs[0].id == "1");
  REQUIRE(drop->dropped.size() == 1);
  CHECK(drop->dropped[0].id == "2");
  CHECK(drop->margins.count == 2);  // the statistics cover every scored pair
}

TEST_CASE("a continuation whose first token merges with the prompt's last is split by the merge policy" * doctest::test_suite("dlma")) {
  // The simulated tokenizer makes "\nS" one token: the prompt ends in ":\n", the answer starts "Sure".
  const std::vector<std::string> merges{"\nS"};
  sa::testing::dlma_sim_options mo;
  mo.merges = merges;
  dlma_sim sim(mo);
  sim.answer("law-abiding", {"Sure, stay safe."}).answer("toxic", {"Sure, break it."});
  sim.affinity("law-abiding", "\nS", 0.75).affinity("toxic", "break", 1.0);

  const std::string q = "q";
  const auto pair = dlma::contrastive_pair::harmless();
  const std::string ppos = pair.positive(q).raw_text();
  const std::string pneg = pair.negative(q).raw_text();
  // The joint tokenization of prompt + answer ends the prompt one token early.
  REQUIRE(split(ppos + "Sure", merges).size() == split(ppos, merges).size() + 1);
  REQUIRE(split(ppos + "Sure", merges)[split(ppos, merges).size() - 1] == "\nS");

  SUBCASE("score_merged: the merged token is scored as the answer's first") {
    auto rep = dlma::build_pairs(sim, std::vector<std::string>{q}, dlma::config{});
    REQUIRE(rep.has_value());
    const auto& p = rep->pairs.at(0);
    CHECK(p.boundary_merged);
    CHECK(rep->merged_boundary == 1);
    const auto cont = split("\nSure, stay safe.", merges);  // "\nS", "ure", ",", " ", ...
    CHECK(cont[0] == "\nS");
    // The scored prompt is the prompt minus its final "\n"; it still holds the tags.
    const std::string cond_pos = ppos.substr(0, ppos.size() - 1);
    const std::string cond_neg = pneg.substr(0, pneg.size() - 1);
    const std::vector<affinity> a{{"law-abiding", "\nS", 0.75}, {"toxic", "break", 1.0}};
    CHECK(p.scores[0].logprob == doctest::Approx(expected_ll(cont, cond_pos, a)));
    CHECK(p.scores[1].logprob == doctest::Approx(expected_ll(cont, cond_neg, a)));
    CHECK(p.scores[0].scored_tokens == cont.size());
    CHECK(p.scores[0].prompt_tokens == split(ppos, merges).size());  // BOS + all prompt tokens but the last
    CHECK(p.scores[0].tokens.front().token == "\nS");
    // R: "\nS" earns +0.75 under p+ for both answers (cancels); "break" +1 under p- for a2.
    CHECK(p.self_reward == doctest::Approx(1.0));
  }
  SUBCASE("skip_merged: the merged token is masked as the official code does") {
    dlma::config cfg;
    cfg.on_merge = dlma::merge_policy::skip_merged;
    auto rep = dlma::build_pairs(sim, std::vector<std::string>{q}, cfg);
    REQUIRE(rep.has_value());
    const auto& p = rep->pairs.at(0);
    const auto cont = split("ure, stay safe.", merges);
    CHECK(p.scores[0].scored_tokens == cont.size());
    CHECK(p.scores[0].logprob == doctest::Approx(expected_ll(cont, ppos, {})));
    CHECK(p.scores[0].tokens.front().token == "ure");
  }
  SUBCASE("reject: the pair fails with the reason") {
    dlma::config cfg;
    cfg.on_merge = dlma::merge_policy::reject;
    auto rep = dlma::build_pairs(sim, std::vector<std::string>{q}, cfg);
    REQUIRE(rep.has_value());
    CHECK(rep->pairs.empty());
    REQUIRE(rep->failures.size() == 1);
    CHECK(rep->failures[0].stage == "tokenize");
    CHECK(rep->failures[0].error.code == sa::errc::invalid_argument);
    CHECK(rep->failures[0].error.message.find("merges with the answer's first token") != std::string::npos);
  }
  SUBCASE("the split itself, on plain ids") {
    const std::vector<sa::token_id> alone{1, 2, 3};
    const std::vector<sa::token_id> joint{1, 2, 9, 4};
    auto s = dlma::split_at_boundary(alone, joint, dlma::merge_policy::score_merged);
    REQUIRE(s.has_value());
    CHECK(s->merged);
    CHECK(s->prompt_ids == std::vector<sa::token_id>{1, 2});
    CHECK(s->continuation_ids == std::vector<sa::token_id>{9, 4});
    auto k = dlma::split_at_boundary(alone, joint, dlma::merge_policy::skip_merged);
    CHECK(k->continuation_ids == std::vector<sa::token_id>{4});
    auto clean = dlma::split_at_boundary(alone, std::vector<sa::token_id>{1, 2, 3, 7}, dlma::merge_policy::reject);
    REQUIRE(clean.has_value());
    CHECK_FALSE(clean->merged);
    CHECK(clean->continuation_ids == std::vector<sa::token_id>{7});
  }
}

TEST_CASE("an approximate scorer is flagged on every pair" * doctest::test_suite("dlma")) {
  dlma_sim sim = make_reward_sim(opts_approximate());
  auto rep = dlma::build_pairs(sim, std::vector<std::string>{"How do I pick a lock?", "other"}, dlma::config{});
  REQUIRE(rep.has_value());
  REQUIRE(rep->pairs.size() == 2);
  CHECK(rep->approximate == 2);
  for (const auto& p : rep->pairs) {
    CHECK(p.approximate);
    for (const auto& s : p.scores) CHECK(s.approximate);
  }
}

TEST_CASE("the chat layout scores with text boundaries" * doctest::test_suite("dlma")) {
  // "unlawful" contains "lawful": the negative rule is tried first.
  dlma_sim sim2;
  sim2.answer("unlawful", {"no way"}).answer("lawful", {"ok then"}).affinity("unlawful", "way", 0.5);
  dlma::config cfg;
  cfg.pair = dlma::contrastive_pair::harmless(dlma::prompt_layout::chat);
  auto rep = dlma::build_pairs(sim2, std::vector<std::string>{"q"}, cfg);
  REQUIRE(rep.has_value());
  CHECK(rep->boundary == dlma::boundary_mode::text);
  const auto& p = rep->pairs.at(0);
  CHECK(p.chosen == "ok then");
  CHECK(p.rejected == "no way");
  CHECK(p.self_reward == doctest::Approx(0.5));
  CHECK(sim2.score_log().at(0).prompt.is_chat());

  cfg.boundary = dlma::boundary_mode::tokens;
  auto bad = dlma::build_pairs(sim2, std::vector<std::string>{"q"}, cfg);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == sa::errc::invalid_argument);
}
