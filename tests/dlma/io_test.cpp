// Preference export (byte for byte), the validator, the JSONL dataset reader and HH transcripts.
#include <doctest/doctest.h>

#include <selfalign/dlma/build_pairs.hpp>
#include <selfalign/dlma/export.hpp>
#include <selfalign/io/dataset.hpp>
#include <selfalign/io/preference_export.hpp>
#include <selfalign/io/preference_validate.hpp>
#include <selfalign/testing/dlma_sim.hpp>

#include <cmath>
#include <unistd.h>
#include <cstdlib>
#include <limits>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <vector>

namespace sa = selfalign;
namespace io = selfalign::io;
namespace dlma = selfalign::dlma;

namespace {

std::filesystem::path tmp_dir() {
  const char* env = std::getenv("SELFALIGN_TEST_TMP");
  std::filesystem::path d = env ? std::filesystem::path(env) : std::filesystem::temp_directory_path();
  d /= "dlma_io_test";
  std::filesystem::create_directories(d);
  return d;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<io::preference_record> fixture() {
  io::preference_record a;
  a.prompt = "Où est la gare?";
  a.chosen = "Tout droit,\npuis à gauche.";
  a.rejected = "Débrouille-toi.";
  a.margin = 6.125;
  a.weight = 0.2;
  a.score_chosen = 2.5;
  a.score_rejected = -3.625;
  io::preference_provenance p;
  p.method = "dlma";
  p.model = "sim-7b";
  p.prompt_pair = "harmless";
  p.seed = 7;
  p.query_id = "q1";
  a.provenance = p;
  io::preference_record b;
  b.prompt = "2+2?";
  b.chosen = "4";
  b.rejected = "\"five\"";
  return {a, b};
}

}  // namespace

TEST_CASE("the three export formats are written byte for byte" * doctest::test_suite("dlma")) {
  const auto records = fixture();
  const std::string prov = std::string(R"("provenance":{"library":"selfalign","version":")") + sa::version_string +
                           R"(","method":"dlma","model":"sim-7b","prompt_pair":"harmless","seed":7,"query_id":"q1","approximate":false})";
  const std::string nums = R"("margin":6.125,"weight":0.2,"score_chosen":2.5,"score_rejected":-3.625,)";

  SUBCASE("trl standard, to a file") {
    const auto path = tmp_dir() / "standard.jsonl";
    REQUIRE(io::write_preferences(path, records).has_value());
    CHECK(slurp(path) ==
          R"({"prompt":"Où est la gare?","chosen":"Tout droit,\npuis à gauche.","rejected":"Débrouille-toi.",)" + nums + prov + "}\n" +
              R"({"prompt":"2+2?","chosen":"4","rejected":"\"five\""})" + "\n");
    CHECK_FALSE(std::filesystem::exists(path.string() + ".tmp"));
    CHECK_FALSE(std::filesystem::exists(path.string() + ".tmp." + std::to_string(::getpid())));
  }
  SUBCASE("trl conversational, with a system prompt and without the optional columns") {
    io::export_options o;
    o.format = io::preference_format::trl_conversational;
    o.system_prompt = "Be brief.";
    o.margin = o.weight = o.scores = o.provenance = false;
    std::ostringstream out;
    REQUIRE(io::write_preferences(out, records, o).has_value());
    std::istringstream lines(out.str());
    std::string first, second;
    std::getline(lines, first);
    std::getline(lines, second);
    CHECK(first ==
          R"({"prompt":[{"role":"system","content":"Be brief."},{"role":"user","content":"Où est la gare?"}],)"
          R"("chosen":[{"role":"assistant","content":"Tout droit,\npuis à gauche."}],)"
          R"("rejected":[{"role":"assistant","content":"Débrouille-toi."}]})");
    CHECK(second ==
          R"({"prompt":[{"role":"system","content":"Be brief."},{"role":"user","content":"2+2?"}],)"
          R"("chosen":[{"role":"assistant","content":"4"}],"rejected":[{"role":"assistant","content":"\"five\""}]})");
  }
  SUBCASE("openrlhf: full conversations under chosen and rejected") {
    io::export_options o;
    o.format = io::preference_format::openrlhf;
    o.provenance = false;
    const auto line = io::to_jsonl_line(records[0], o);
    REQUIRE(line.has_value());
    CHECK(*line ==
          R"({"chosen":[{"role":"user","content":"Où est la gare?"},{"role":"assistant","content":"Tout droit,\npuis à gauche."}],)"
          R"("rejected":[{"role":"user","content":"Où est la gare?"},{"role":"assistant","content":"Débrouille-toi."}],)"
          R"("margin":6.125,"weight":0.2,"score_chosen":2.5,"score_rejected":-3.625})");
  }
  SUBCASE("invalid UTF-8 and non-finite numbers are refused and nothing is written") {
    auto bad = records;
    bad[1].rejected = "ok \xC3\x28";
    std::ostringstream out;
    auto r = io::write_preferences(out, bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == sa::errc::invalid_argument);
    CHECK(r.error().message == "record 2: rejected has invalid UTF-8 at byte 4");
    CHECK(out.str().empty());
    auto nan = records;
    nan[0].margin = std::nan("");
    CHECK(io::write_preferences(out, nan).error().message == "record 1: margin is nan");
    // To a file: the old content stays, no temporary file is left beside it.
    const auto path = tmp_dir() / "kept.jsonl";
    std::ofstream(path) << "old\n";
    CHECK(io::write_preferences(path, nan).error().message == "record 1: margin is nan");
    CHECK(slurp(path) == "old\n");
    for (const auto& e : std::filesystem::directory_iterator(tmp_dir()))
      CHECK(e.path().filename().string().find("kept.jsonl.tmp") == std::string::npos);
  }
  CHECK(io::parse_preference_format("openrlhf").value() == io::preference_format::openrlhf);
  CHECK(io::parse_preference_format("dpo").error().message ==
        "unknown preference format 'dpo' (expected trl, trl-conversational or openrlhf)");
}

TEST_CASE("dlma pairs export with clipped margin, weight, rewards and provenance" * doctest::test_suite("dlma")) {
  sa::testing::dlma_sim sim;
  sim.answer("law-abiding", {"Use a key."}).answer("toxic", {"Kick it."});
  sim.affinity("law-abiding", "key", 1.0).affinity("toxic", "Kick", 0.5);
  dlma::config cfg;
  cfg.seed = 3;
  auto rep = dlma::build_pairs(sim, std::vector<std::string>{"Open a door?"}, cfg);
  REQUIRE(rep.has_value());
  const auto path = tmp_dir() / "dlma.jsonl";
  REQUIRE(dlma::write_pairs(path, *rep, cfg).has_value());
  CHECK(slurp(path) == std::string(R"({"prompt":"Open a door?","chosen":"Use a key.","rejected":"Kick it.","margin":1.5,)") +
                           R"("weight":0.2,"score_chosen":1.0,"score_rejected":-0.5,"provenance":{"library":"selfalign",)" +
                           R"("version":")" + sa::version_string +
                           R"(","method":"dlma","model":"dlma-sim","prompt_pair":"harmless","seed":3,"query_id":"1","approximate":false}})" +
                           "\n");
  const auto target = dlma::to_preference_records(rep->pairs, cfg, dlma::margin_column::target);
  CHECK(*target[0].margin == doctest::Approx(0.3));
  CHECK(*target[0].weight == 1.0);
}

TEST_CASE("the validator reports empty, identical, echoed, fabricated-turn and non-UTF-8 answers" * doctest::test_suite("dlma")) {
  std::vector<io::preference_record> rs(5);
  rs[0] = {"How do I bake sourdough bread?", "Feed the starter first.", "", {}, {}, {}, {}, {}};
  rs[1] = {"q", " same ", "same", {}, {}, {}, {}, {}};
  rs[2] = {"How do I bake sourdough bread?", "You asked: How do I bake sourdough bread? Well...", "Buy it.\nUSER: thanks", {}, {}, {}, {}, {}};
  rs[3] = {"q", "fine", "bad \xFF byte", std::numeric_limits<double>::infinity(), {}, {}, {}, {}};
  rs[4] = {"Hi", "Hi there", "Go away", {}, {}, {}, {}, {}};  // short prompt: no echo check
  rs[1].provenance = io::preference_provenance{};
  rs[1].provenance->query_id = "x7";

  const auto f = io::validate_preferences(rs);
  REQUIRE(f.size() == 6);
  CHECK(f[0] == io::validation_finding{0, io::finding_kind::empty_answer, "rejected", "record 1: rejected is empty"});
  CHECK(f[1] == io::validation_finding{1, io::finding_kind::identical, "chosen", "record 2 (id x7): chosen and rejected are identical"});
  CHECK(f[2] == io::validation_finding{2, io::finding_kind::prompt_repeated, "chosen", "record 3: chosen repeats the prompt"});
  CHECK(f[3] == io::validation_finding{2, io::finding_kind::turn_marker, "rejected",
                                       "record 3: rejected contains the turn marker \"\\nUSER:\" (a fabricated next turn?)"});
  CHECK(f[4] == io::validation_finding{3, io::finding_kind::invalid_utf8, "rejected", "record 4: rejected has invalid UTF-8 at byte 5"});
  CHECK(f[5] == io::validation_finding{3, io::finding_kind::non_finite, "margin", "record 4: margin is inf"});
  CHECK(io::validate_preferences(std::vector<io::preference_record>{{"q", "a", "b", 1.0, {}, {}, {}, {}}}).empty());

  // UTF-8 edge cases: overlong, surrogate, truncated, above U+10FFFF; valid 4-byte.
  CHECK(io::first_invalid_utf8("\xC0\xAF") == std::optional<std::size_t>(0));
  CHECK(io::first_invalid_utf8("a\xED\xA0\x80") == std::optional<std::size_t>(1));
  CHECK(io::first_invalid_utf8("ab\xE2\x82") == std::optional<std::size_t>(2));
  CHECK(io::first_invalid_utf8("\xF4\x90\x80\x80") == std::optional<std::size_t>(0));
  CHECK(io::is_valid_utf8("\xF0\x9F\x98\x80 ok é"));
}

TEST_CASE("read_queries takes prompt, instruction, question or query and keeps the whole record" * doctest::test_suite("dlma")) {
  std::istringstream in(
      "\xEF\xBB\xBF{\"prompt\": \"p1\", \"id\": \"a\", \"extra\": 1}\r\n"
      "\n"
      "{\"instruction\": \"Translate\", \"input\": \"chat\"}\n"
      "{\"question\": \"q3\", \"id\": 17}\n"
      "   \n"
      "{\"query\": \"q4\", \"prompt\": null}\n");
  auto rs = io::read_queries(in, "data.jsonl");
  REQUIRE(rs.has_value());
  REQUIRE(rs->size() == 4);
  CHECK((*rs)[0].id == "a");
  CHECK((*rs)[0].prompt == "p1");
  CHECK((*rs)[0].fields["extra"] == 1);
  CHECK((*rs)[0].line == 1);
  CHECK((*rs)[1].prompt == "Translate\n\nchat");
  CHECK((*rs)[1].id == "3");
  CHECK((*rs)[2].id == "17");
  CHECK((*rs)[3].prompt == "q4");
  CHECK((*rs)[3].line == 6);
}

TEST_CASE("read_queries reports the file and line of a malformed record" * doctest::test_suite("dlma")) {
  auto err = [](const std::string& text) {
    std::istringstream in(text);
    auto r = io::read_queries(in, "data.jsonl");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == sa::errc::invalid_argument);
    return r.error().message;
  };
  CHECK(err("{\"prompt\": \"ok\"}\n{\"prompt\": \"broken\"\n") == "data.jsonl:2: not valid JSON (column 20): {\"prompt\": \"broken\"");
  CHECK(err("{\"prompt\": \"ok\"}\n\n{\"text\": \"x\", \"label\": 1}\n") ==
        "data.jsonl:3: no query text: expected one of the fields \"prompt\", \"instruction\", \"question\", \"query\" "
        "(the record has \"label\", \"text\")");
  CHECK(err("[1, 2]\n") == "data.jsonl:1: expected a JSON object, found array");
  CHECK(err("{\"prompt\": 5}\n") == "data.jsonl:1: field \"prompt\" is number, expected a string");
  CHECK(err("{\"prompt\": \"  \"}\n") == "data.jsonl:1: field \"prompt\" is empty");
  CHECK(err("{\"prompt\": \"a\", \"id\": [1]}\n") == "data.jsonl:1: field \"id\" is array, expected a string or an integer");
  CHECK(err("{\"prompt\": \"a\", \"id\": \"x\"}\n{\"prompt\": \"b\", \"id\": \"x\"}\n") ==
        "data.jsonl:2: duplicate id \"x\" (first on line 1)");
  CHECK(err("{\"prompt\": \"caf\xE9\"}\n") == "data.jsonl:1: invalid UTF-8 at byte 16");

  const auto path = tmp_dir() / "queries.jsonl";
  {
    std::ofstream f(path, std::ios::binary);
    f << "{\"prompt\": \"one\"}\n{\"prompt\" \"two\"}\n";
  }
  auto r = io::read_queries(path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.rfind(path.string() + ":2: not valid JSON", 0) == 0);
  auto missing = io::read_queries(tmp_dir() / "nope.jsonl");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == sa::errc::io);
}

TEST_CASE("HH transcripts become DLMA queries" * doctest::test_suite("dlma")) {
  const std::string t = "\n\nHuman: How do I hotwire a car?\n\nAssistant: Why do you want to?\n\nHuman: It is mine.\n\nAssistant: Then call a locksmith.";
  auto turns = io::parse_hh_transcript(t);
  REQUIRE(turns.has_value());
  REQUIRE(turns->size() == 4);
  CHECK((*turns)[0] == sa::message::user("How do I hotwire a car?"));
  CHECK((*turns)[3] == sa::message::assistant("Then call a locksmith."));
  CHECK(io::hh_query(t).value() == "How do I hotwire a car?\nASSISTANT: Why do you want to?\nUSER: It is mine.");
  CHECK(io::hh_query("Human: Hi there\n\nAssistant:").value() == "Hi there");
  CHECK(io::hh_query("\n\nAssistant: hello").error().message == "HH transcript has no Human turn");
  CHECK(io::hh_query("no markers").error().message == "HH transcript does not start with \"Human:\": no markers");

  std::istringstream in("{\"chosen\": \"\\n\\nHuman: A?\\n\\nAssistant: B\", \"rejected\": \"x\"}\n{\"chosen\": \"junk\"}\n");
  auto rs = io::read_hh_queries(in, "hh.jsonl");
  REQUIRE_FALSE(rs.has_value());
  CHECK(rs.error().message == "hh.jsonl:2: field \"chosen\": HH transcript does not start with \"Human:\": junk");
  std::istringstream ok("{\"chosen\": \"\\n\\nHuman: A?\\n\\nAssistant: B\"}\n");
  auto good = io::read_hh_queries(ok, "hh.jsonl");
  REQUIRE(good.has_value());
  CHECK(good->at(0).prompt == "A?");
}

namespace {
// A stream buffer that hands out `text` and then throws, as a stream with exceptions() set or a
// failing device would.
class throwing_buf : public std::streambuf {
 public:
  explicit throwing_buf(std::string text) : text_(std::move(text)) { setg(text_.data(), text_.data(), text_.data() + text_.size()); }

 protected:
  int_type underflow() override { throw std::runtime_error("the disk is on fire"); }

 private:
  std::string text_;
};
}  // namespace

TEST_CASE("read_queries turns every exception into file:line: reason, never a throw" * doctest::test_suite("dlma")) {
  // A number nlohmann refuses with out_of_range (not a parse_error): it aborted the CLI.
  std::istringstream big("{\"prompt\":\"one\"}\n{\"prompt\":\"two\",\"score\":1e400}\n");
  auto r = io::read_queries(big, "data.jsonl");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == sa::errc::invalid_argument);
  CHECK(r.error().message == "data.jsonl:2: not valid JSON: number overflow parsing '1e400'");
  auto line = io::parse_query_line("{\"prompt\":\"x\",\"v\":-1e999}", "f.jsonl", 7);
  REQUIRE_FALSE(line.has_value());
  CHECK(line.error().message == "f.jsonl:7: not valid JSON: number overflow parsing '-1e999'");

  // Nesting deeper than the reader's cap of 256 levels: refused before anything recurses on it.
  std::istringstream deep("{\"prompt\":\"ok\"}\n{\"prompt\":\"x\",\"v\":" + std::string(300, '[') + std::string(300, ']') + "}\n");
  auto d = io::read_queries(deep, "deep.jsonl");
  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().message == "deep.jsonl:2: not valid JSON: nested deeper than 256 levels (at byte 274)");

  throwing_buf buf("{\"prompt\":\"one\"}\n{\"prompt\":\"tw");
  std::istream in(&buf);
  in.exceptions(std::ios::badbit);
  auto thrown = io::read_queries(in, "dev.jsonl");
  REQUIRE_FALSE(thrown.has_value());
  CHECK(thrown.error().code == sa::errc::io);
  CHECK(thrown.error().message == "dev.jsonl:2: read error: the disk is on fire");
}
