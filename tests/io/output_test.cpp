#include <doctest/doctest.h>
#include <selfalign/events.hpp>
#include <selfalign/io/output.hpp>
#include <selfalign/io/trace.hpp>

#include "test_support.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <sys/stat.h>

using namespace selfalign;

namespace {
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("atomic_output leaves the destination untouched until commit" * doctest::test_suite("io")) {
  const auto dir = test_support::temp_path("atomic");
  std::filesystem::create_directories(dir);
  const auto dest = dir / "out.jsonl";
  { std::ofstream(dest) << "old complete output\n"; }
  {
    auto out = io::atomic_output::open(dest.string());
    REQUIRE(out);
    REQUIRE(out->write_line(R"({"id":1})"));
    CHECK(slurp(out->temp_path()) == "{\"id\":1}\n");  // flushed as written
    CHECK(slurp(dest) == "old complete output\n");
    // destroyed without commit: the temporary file goes, the old output stays
  }
  CHECK(slurp(dest) == "old complete output\n");
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}) == 1);

  auto out = io::atomic_output::open(dest.string());
  REQUIRE(out);
  REQUIRE(out->write_line(R"({"id":2})"));
  REQUIRE(out->commit());
  CHECK(slurp(dest) == "{\"id\":2}\n");
  CHECK_FALSE(std::filesystem::exists(out->temp_path()));
  CHECK(out->write("x").error().message == "output already committed");
}

TEST_CASE("atomic_output reports an unwritable destination" * doctest::test_suite("io")) {
  auto out = io::atomic_output::open("/nonexistent-dir-selfalign/out.jsonl");
  REQUIRE_FALSE(out);
  CHECK(out.error().code == errc::io);
  CHECK(out.error().message.find("cannot write /nonexistent-dir-selfalign/out.jsonl.tmp.") == 0);
}

// Before the fix, a temporary file was renamed over the destination whatever it was: as root,
// `--out /dev/null` replaced /dev/null with a regular file for the whole machine.
TEST_CASE("atomic_output writes a FIFO or a device in place and leaves it what it was" * doctest::test_suite("io")) {
  const auto dir = test_support::temp_path("atomic-fifo");
  std::filesystem::create_directories(dir);
  const auto fifo = dir / "pipe";
  std::filesystem::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(io::writes_in_place(fifo));
  CHECK_FALSE(io::writes_in_place(dir));
  CHECK_FALSE(io::writes_in_place(dir / "absent.jsonl"));
  std::string received;
  std::thread reader([&] { received = slurp(fifo); });
  {
    auto out = io::atomic_output::open(fifo.string());
    REQUIRE(out);
    CHECK(out->temp_path().empty());
    REQUIRE(out->write_line("{\"a\":1}"));
    REQUIRE(out->commit());
  }
  reader.join();
  CHECK(received == "{\"a\":1}\n");
  CHECK(std::filesystem::is_fifo(fifo));
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}) == 1);

  CHECK(io::writes_in_place("/dev/null"));
  {
    auto out = io::atomic_output::open("/dev/null");
    REQUIRE(out);
    REQUIRE(out->write_line("discarded"));
    REQUIRE(out->commit());
  }
  CHECK(std::filesystem::is_character_file("/dev/null"));
}

TEST_CASE("the trace writer records every event as one JSON line" * doctest::test_suite("io")) {
  const auto path = test_support::temp_path("trace");
  {
    auto trace = io::trace_writer::open(path.string());
    REQUIRE(trace);
    event e;
    e.kind = event_kind::call_finished;
    e.source = "generate";
    e.role = "base";
    e.call_id = 3;
    e.latency_ms = 12.5;
    e.usage.prompt_tokens = 7;
    (*trace)->write(e);
    event f;
    f.kind = event_kind::call_failed;
    f.source = "judge";
    f.error = error(errc::timeout, "deadline");
    (*trace)->write(f);
  }
  std::ifstream in(path);
  std::string l1, l2;
  std::getline(in, l1);
  std::getline(in, l2);
  auto j1 = nlohmann::json::parse(l1);
  CHECK(j1["kind"] == "call_finished");
  CHECK(j1["role"] == "base");
  CHECK(j1["call_id"] == 3);
  CHECK(j1["latency_ms"] == 12.5);
  CHECK(j1["usage"]["prompt_tokens"] == 7);
  CHECK(j1.contains("t_ms"));
  auto j2 = nlohmann::json::parse(l2);
  CHECK(j2["error"]["code"] == "timeout");
  CHECK(j2["error"]["message"] == "deadline");
}
