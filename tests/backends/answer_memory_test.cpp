// How much memory a large answer costs the HTTP backend (issue 10 item 12): every allocation of the
// test executable is counted (operator new below), and the peak bytes live during a call, above
// what was live before it, are compared with the answer's size. Byte counts, not times or RSS:
// deterministic. The old reader held the body, nlohmann's token buffer, its raw-token record and
// the parsed value's copy at once (about 4 times the answer); now the answer's text is decoded
// inside the body's own buffer, so a call holds the answer about once.
#include "backends/fixture.hpp"

#include <selfalign/backends/openai.hpp>
#include <selfalign/json_read.hpp>

#include <doctest/doctest.h>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>

namespace {

std::atomic<std::int64_t> live_bytes{0};
std::atomic<std::int64_t> peak_bytes{0};

void* counted_alloc(std::size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (!p) throw std::bad_alloc();
  const auto now = live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p))) +
                   static_cast<std::int64_t>(malloc_usable_size(p));
  auto peak = peak_bytes.load();
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
  return p;
}
void counted_free(void* p) noexcept {
  if (!p) return;
  live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)));
  std::free(p);
}

/// Measures the peak of live heap bytes while `f` runs, above what was live when it started.
template <class F>
std::int64_t peak_during(F&& f) {
  const auto start = live_bytes.load();
  peak_bytes.store(start);
  f();
  return peak_bytes.load() - start;
}

constexpr std::size_t answer_bytes = std::size_t{8} << 20;

std::string big_chat_answer(const std::string& text) {
  return R"({"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":")" + text +
         R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}})";
}

/// Serves `body` from memory in 64 KiB slices (no copy per request).
struct big_answer_server {
  explicit big_answer_server(const std::string& body, const char* path = "/v1/chat/completions") {
    srv->Post(path, [&body](const httplib::Request&, httplib::Response& res) {
      res.set_content_provider(body.size(), "application/json",
                               [&body](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                                 sink.write(body.data() + offset, std::min<std::size_t>(length, std::size_t{64} << 10));
                                 return true;
                               });
    });
    srv.start();
  }
  fixture::loopback_server srv;
};

selfalign::openai_options big_options(const std::string& url) {
  auto o = fixture::options(url, selfalign::server_preset::vllm);
  o.max_answer_bytes = std::size_t{64} << 20;
  o.read_timeout = std::chrono::milliseconds(60000);
  o.deadline = std::chrono::milliseconds(120000);
  return o;
}

}  // namespace

// Every allocation of this executable goes through the counters (malloc underneath). All the
// non-aligned forms are replaced together, the nothrow ones too (std::stable_sort's temporary
// buffer uses them): a form left to the runtime would pair its new with our delete, which
// AddressSanitizer reports as an alloc-dealloc mismatch. The aligned forms stay the runtime's, in
// pairs.
void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }

using namespace selfalign;

TEST_CASE("parse_json holds a long string once beside the text, not three times" * doctest::test_suite("memory")) {
  std::string text(answer_bytes, 'x');
  text[100] = '\n';  // written as an escape below, so the text is not a plain copy
  std::string escaped = text;
  escaped.replace(100, 1, "\\n");
  const std::string body = big_chat_answer(escaped);
  result<nlohmann::json> j = fail(errc::internal, "not parsed");
  const auto peak = peak_during([&] { j = parse_json(body, server_json_options()); });
  REQUIRE(j);
  CHECK(((*j)["choices"][0]["message"]["content"].get_ref<const std::string&>() == text));
  // The decoded text (reserved at the literal's length) and the small rest; the old reader
  // peaked above 3 times the text.
  CHECK(peak < static_cast<std::int64_t>(answer_bytes) * 5 / 4);
  MESSAGE("parse_json peak: " << peak << " bytes for a " << answer_bytes << "-byte string");
}

TEST_CASE("a text given up to the reader becomes its last long string, decoded where it lies" * doctest::test_suite("memory")) {
  std::string text(answer_bytes, 'v');
  text.replace(10, 1, "\\u00e9");  // decoding shortens it: the string is moved to the buffer's front
  std::string body = big_chat_answer(text);
  const char* const buffer = body.data();
  result<nlohmann::json> j = fail(errc::internal, "not parsed");
  const auto peak = peak_during([&] { j = detail::parse_json_taking(body, server_json_options()); });
  REQUIRE(j);
  const auto& content = (*j)["choices"][0]["message"]["content"].get_ref<const std::string&>();
  CHECK(content.data() == buffer);  // the body's buffer, not a copy
  CHECK(content.size() == answer_bytes + 1);
  CHECK(content.compare(0, 12, "vvvvvvvvvv\xC3\xA9") == 0);
  CHECK(body.empty());
  CHECK(peak < static_cast<std::int64_t>(answer_bytes) / 8);  // the rest of the text and the value's nodes

  std::string bad = big_chat_answer(text) + ",";  // on failure the text is left for the message
  const std::string before = bad;
  auto failed = detail::parse_json_taking(bad, server_json_options());
  REQUIRE_FALSE(failed);
  CHECK((bad == before));
}

TEST_CASE("a large answer costs about its own size" * doctest::test_suite("memory")) {
  const std::string text(answer_bytes, 'y');
  const std::string body = big_chat_answer(text);
  big_answer_server s(body);
  openai_backend llm(big_options(s.srv.url()));
  result<generation> g = fail(errc::internal, "not called");
  const auto peak = peak_during([&] { g = llm.generate(fixture::chat_request()); });
  REQUIRE(g);
  CHECK((g->text() == text));  // (not decomposed: no 8 MiB in a failure message)
  // The body, reserved from Content-Length, whose buffer then holds the text; the old path
  // peaked at about 4 times the answer (6 times counting the capacities of growing strings).
  CHECK(peak < static_cast<std::int64_t>(answer_bytes) * 5 / 4);
  MESSAGE("generate() peak: " << peak << " bytes for a " << answer_bytes << "-byte answer");
}

TEST_CASE("a large answer to a streamed call the server did not stream reaches the callback without a copy" *
          doctest::test_suite("memory")) {
  const std::string text(answer_bytes, 'z');
  const std::string body = big_chat_answer(text);
  big_answer_server s(body);  // application/json: the server ignored stream:true
  openai_backend llm(big_options(s.srv.url()));
  std::int64_t start = 0, in_callback = -1;
  std::size_t seen = 0;
  result<generation> g = fail(errc::internal, "not called");
  const auto peak = peak_during([&] {
    start = live_bytes.load();
    g = llm.generate_stream(fixture::chat_request(), [&](const stream_chunk& c) {
      in_callback = live_bytes.load() - start;
      seen += c.text.size();
      return true;
    });
  });
  REQUIRE(g);
  CHECK((g->text() == text));  // (not decomposed: no 8 MiB in a failure message)
  CHECK(seen == text.size());
  // When the callback runs, the body is gone and the text exists once (it was copied into the
  // chunk before: twice).
  CHECK(in_callback > static_cast<std::int64_t>(answer_bytes) * 9 / 10);
  CHECK(in_callback < static_cast<std::int64_t>(answer_bytes) * 5 / 4);
  CHECK(peak < static_cast<std::int64_t>(answer_bytes) * 5 / 4);
}

TEST_CASE("a large /completions answer costs about its own size" * doctest::test_suite("memory")) {
  const std::string text(answer_bytes, 'w');
  const std::string body = R"({"choices":[{"index":0,"text":")" + text + R"(","finish_reason":"length"}]})";
  big_answer_server s(body, "/v1/completions");
  openai_backend llm(big_options(s.srv.url()));
  generation_request req;
  req.prompt = prompt::text("hi");
  req.sampling.max_tokens = 4;
  result<generation> g = fail(errc::internal, "not called");
  const auto peak = peak_during([&] { g = llm.generate(req); });
  REQUIRE(g);
  CHECK((g->text() == text));  // (not decomposed: no 8 MiB in a failure message)
  CHECK(peak < static_cast<std::int64_t>(answer_bytes) * 5 / 4);
}
