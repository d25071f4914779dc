// Base-URL parsing: errors or a URL whose parts are sane, never a crash.
#include "fuzz_support.hpp"

#include <selfalign/backends/detail/url.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto u = selfalign::detail::parse_base_url(text);
  if (u) {
    fuzz::require(u->port > 0 && u->port <= 65535, "a port out of range");
    fuzz::require(u->scheme == "http" || u->scheme == "https", "an unknown scheme");
    fuzz::require(!u->host.empty(), "an empty host");
    fuzz::require(u->prefix.empty() || u->prefix.front() == '/', "a prefix without a leading slash");
    (void)u->display();
    (void)u->root_prefix();
  }
  return 0;
}
