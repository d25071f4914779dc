#include <doctest/doctest.h>
#include <selfalign/result.hpp>

#include <string>

using namespace selfalign;

TEST_CASE("result holds a value or an error with expected-like members" * doctest::test_suite("result")) {
  result<int> ok = 42;
  CHECK(ok.has_value());
  CHECK(static_cast<bool>(ok));
  CHECK(*ok == 42);
  CHECK(ok.value() == 42);
  CHECK(ok.value_or(7) == 42);

  result<int> bad = fail(errc::rate_limited, "slow down");
  CHECK_FALSE(bad.has_value());
  CHECK(bad.error().code == errc::rate_limited);
  CHECK(bad.error().message == "slow down");
  CHECK(bad.error().retryable);
  CHECK(bad.value_or(7) == 7);
}

TEST_CASE("value() on an error throws selfalign::exception carrying the error" * doctest::test_suite("result")) {
  result<std::string> bad = unexpected(error(errc::http_status, "model not found", 404));
  try {
    (void)bad.value();
    FAIL("value() did not throw");
  } catch (const selfalign::exception& e) {
    CHECK(e.code() == errc::http_status);
    CHECK(e.error().http_status == 404);
    CHECK(std::string(e.what()) == "http_status (HTTP 404): model not found");
  }
}

TEST_CASE("and_then, transform and or_else chain and pass errors through" * doctest::test_suite("result")) {
  result<int> two = 2;
  auto doubled = two.transform([](int v) { return v * 2; });
  CHECK(*doubled == 4);
  auto chained = two.and_then([](int v) -> result<std::string> { return std::to_string(v + 1); });
  CHECK(*chained == "3");

  result<int> bad = fail(errc::timeout, "deadline");
  auto t = bad.transform([](int v) { return v * 2; });
  REQUIRE_FALSE(t.has_value());
  CHECK(t.error().code == errc::timeout);
  auto recovered = bad.or_else([](const error&) -> result<int> { return 9; });
  CHECK(*recovered == 9);
}

TEST_CASE("result<void> reports success or error" * doctest::test_suite("result")) {
  result<void> ok;
  CHECK(ok.has_value());
  CHECK_NOTHROW(ok.value());
  result<void> bad = fail(errc::io, "disk full");
  CHECK_FALSE(bad.has_value());
  CHECK(bad.error().message == "disk full");
  CHECK_THROWS_AS(bad.value(), selfalign::exception);
}

TEST_CASE("errc names round-trip and retryability follows the category" * doctest::test_suite("result")) {
  for (int i = static_cast<int>(errc::invalid_argument); i <= static_cast<int>(errc::context_overflow); ++i) {
    const auto e = static_cast<errc>(i);
    errc back{};
    REQUIRE(from_string(to_string(e), back));
    CHECK(back == e);
  }
  errc dummy{};
  CHECK_FALSE(from_string("no_such_code", dummy));
  CHECK(retryable_by_default(errc::server_error));
  CHECK(retryable_by_default(errc::transport));
  CHECK_FALSE(retryable_by_default(errc::http_status));
  CHECK_FALSE(retryable_by_default(errc::budget_exhausted));
  CHECK_FALSE(retryable_by_default(errc::context_overflow));
  CHECK(to_string(errc::context_overflow) == "context_overflow");
  CHECK(fmt::format("{}", errc::budget_exhausted) == "budget_exhausted");
  CHECK(error(errc::unsupported, "no scoring").describe() == "unsupported: no scoring");
}
