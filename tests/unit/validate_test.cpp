// One validation shape for the three algorithms: a free validate(const config&) -> result<void> in
// drpo, rain and dlma, found the same way, failing with errc::invalid_argument and a message that
// names the field.
#include <doctest/doctest.h>

#include <selfalign/dlma/config.hpp>
#include <selfalign/drpo/config.hpp>
#include <selfalign/rain/config.hpp>
#include <selfalign/result.hpp>

#include <string>
#include <type_traits>
#include <utility>

using namespace selfalign;

namespace {

// The one code path: unqualified, so each algorithm's validate is found through its config.
template <class Config>
std::string validation_message(const Config& c) {
  const result<void> v = validate(c);
  if (v) return "valid";
  return std::string(to_string(v.error().code)) + ": " + v.error().message;
}

static_assert(std::is_same_v<decltype(drpo::validate(std::declval<const drpo::config&>())), result<void>>);
static_assert(std::is_same_v<decltype(rain::validate(std::declval<const rain::config&>())), result<void>>);
static_assert(std::is_same_v<decltype(dlma::validate(std::declval<const dlma::config&>())), result<void>>);

}  // namespace

TEST_CASE("drpo, rain and dlma validate their configs with one free function of one shape" * doctest::test_suite("unit")) {
  CHECK(validation_message(drpo::config{}) == "valid");
  CHECK(validation_message(rain::config{}) == "valid");
  CHECK(validation_message(dlma::config{}) == "valid");

  drpo::config d;
  d.beam_width = 0;
  rain::config r;
  r.max_iterations = 0;
  dlma::config l;
  l.top_p = 0.0;
  CHECK(validation_message(d) == "invalid_argument: drpo::config::beam_width must be at least 1");
  CHECK(validation_message(r) == "invalid_argument: rain::config: max_iterations must be at least 1");
  CHECK(validation_message(l) == "invalid_argument: dlma::config: top_p must be in (0, 1]");

  // Qualified calls say the same; DLMA's older member spelling is the same check.
  CHECK(drpo::validate(d).error() == validate(d).error());
  CHECK(rain::validate(r).error() == validate(r).error());
  REQUIRE_FALSE(l.validate());
  CHECK(l.validate().error().message == dlma::validate(l).error().message);
  CHECK(dlma::config{}.validate());
}
