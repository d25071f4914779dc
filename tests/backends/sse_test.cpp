// The SSE parser on its own: split reads, CRLF, comments, multi-line data, [DONE], EOF handling.
#include <selfalign/backends/sse.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using selfalign::sse_event;
using selfalign::sse_parser;

namespace {
struct collector {
  std::vector<sse_event> events;
  sse_parser parser{[this](const sse_event& e) {
    events.push_back(e);
    return true;
  }};
};
}  // namespace

TEST_CASE("sse events are dispatched at blank lines with the optional space after data: removed" * doctest::test_suite("backends")) {
  collector c;
  CHECK(c.parser.feed("data: {\"a\":1}\n\ndata:{\"b\":2}\n\n"));
  REQUIRE(c.events.size() == 2);
  CHECK(c.events[0].data == "{\"a\":1}");
  CHECK(c.events[1].data == "{\"b\":2}");
}

TEST_CASE("sse input split at every byte gives the same events, CRLF included" * doctest::test_suite("backends")) {
  const std::string stream = ": ping\r\n\r\ndata: one\r\n\r\nevent: delta\r\ndata: two\r\ndata: lines\r\n\r\ndata: [DONE]\r\n\r\n";
  collector c;
  for (char ch : stream) CHECK(c.parser.feed(std::string(1, ch)));
  REQUIRE(c.events.size() == 3);
  CHECK(c.events[0].data == "one");
  CHECK(c.events[1].event == "delta");
  CHECK(c.events[1].data == "two\nlines");
  CHECK(c.events[2].data == "[DONE]");
  CHECK(c.parser.comments() == 1);
  CHECK(c.parser.events() == 3);
}

TEST_CASE("sse a CR at the end of one read followed by LF in the next is one line end" * doctest::test_suite("backends")) {
  collector c;
  CHECK(c.parser.feed("data: x\r"));
  CHECK(c.events.empty());
  CHECK(c.parser.feed("\n\r"));
  CHECK(c.events.empty());  // "\r" alone could still be followed by "\n"
  CHECK(c.parser.feed("\n"));
  REQUIRE(c.events.size() == 1);
  CHECK(c.events[0].data == "x");
}

TEST_CASE("sse lone CR line endings and a UTF-8 sequence split across reads" * doctest::test_suite("backends")) {
  collector c;
  const std::string euro = "\xE2\x82\xAC";
  CHECK(c.parser.feed("data: price " + euro.substr(0, 1)));
  CHECK(c.parser.feed(euro.substr(1) + "5\r\rdata: b\r\r"));
  CHECK(c.parser.feed("x"));  // resolves the pending CR
  REQUIRE(c.events.size() == 2);
  CHECK(c.events[0].data == "price " + euro + "5");
  CHECK(c.events[1].data == "b");
}

TEST_CASE("sse comments, id and retry fields are ignored; events without data are not dispatched" * doctest::test_suite("backends")) {
  collector c;
  CHECK(c.parser.feed(":keep-alive\nid: 7\nretry: 100\n\nevent: x\n\nfoo: bar\ndata\n\n"));
  REQUIRE(c.events.size() == 1);
  CHECK(c.events[0].data.empty());  // "data" without a colon is a data line with an empty value
  CHECK(c.parser.comments() == 1);
}

TEST_CASE("sse finish delivers an event whose blank line never came" * doctest::test_suite("backends")) {
  collector c;
  CHECK(c.parser.feed("data: a\n\ndata: last"));
  CHECK(c.events.size() == 1);
  CHECK(c.parser.finish());
  REQUIRE(c.events.size() == 2);
  CHECK(c.events[1].data == "last");
}

TEST_CASE("sse a callback returning false stops the parser" * doctest::test_suite("backends")) {
  int seen = 0;
  sse_parser p([&](const sse_event&) { return ++seen < 2; });
  CHECK_FALSE(p.feed("data: 1\n\ndata: 2\n\ndata: 3\n\n"));
  CHECK(seen == 2);
  CHECK(p.stopped());
  CHECK_FALSE(p.feed("data: 4\n\n"));
  CHECK(seen == 2);
}

TEST_CASE("sse a line longer than the buffer limit stops the parser as overflowed" * doctest::test_suite("backends")) {
  sse_parser p([](const sse_event&) { return true; }, 16);
  CHECK(p.feed("data: 0123456789"));
  CHECK_FALSE(p.feed("abcdefghij"));
  CHECK(p.overflowed());
}

TEST_CASE("sse a byte order mark before the first line is skipped" * doctest::test_suite("backends")) {
  collector c;
  CHECK(c.parser.feed("\xEF\xBB\xBF" "data: a\n\n"));
  REQUIRE(c.events.size() == 1);
  CHECK(c.events[0].data == "a");
}
