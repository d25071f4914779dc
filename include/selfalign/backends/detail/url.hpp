// selfalign: base-URL parsing for the HTTP backend (scheme, host, port, path prefix)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>

#include <cctype>
#include <string>
#include <string_view>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// A parsed base URL. cpp-httplib 0.11's Client(url) takes no path, so we split it ourselves.
struct base_url {
  std::string scheme;  ///< "http" or "https", lower-case
  std::string host;    ///< without brackets for IPv6 literals
  int port = 0;
  std::string prefix;  ///< "" or "/v1" (no trailing slash); prepended to every API path

  [[nodiscard]] bool https() const noexcept { return scheme == "https"; }
  /// The prefix for endpoints at the server root (/tokenize, /health): the prefix without "/v1".
  [[nodiscard]] std::string root_prefix() const {
    std::string_view p = prefix;
    if (p.size() >= 3 && p.substr(p.size() - 3) == "/v1") p.remove_suffix(3);
    return std::string(p);
  }
  /// "http://host:port/prefix", for messages (never contains credentials: userinfo is rejected).
  [[nodiscard]] std::string display() const {
    const bool v6 = host.find(':') != std::string::npos;
    return fmt::format("{}://{}{}{}:{}{}", scheme, v6 ? "[" : "", host, v6 ? "]" : "", port, prefix);
  }
};

/// Parses "http[s]://host[:port][/prefix]". The scheme defaults to http when absent; the port to
/// 80/443. Query strings, fragments and user:password@ are rejected with errc::invalid_argument.
[[nodiscard]] inline result<base_url> parse_base_url(std::string_view url) {
  base_url out;
  std::string_view rest = url;
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back()))) rest.remove_suffix(1);
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front()))) rest.remove_prefix(1);
  auto bad = [&](std::string_view why) {
    return fail(errc::invalid_argument, fmt::format("invalid base URL '{}': {}", url, why));
  };
  if (rest.empty()) return bad("it is empty");
  if (const auto sep = rest.find("://"); sep != std::string_view::npos) {
    for (char c : rest.substr(0, sep)) out.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    rest.remove_prefix(sep + 3);
  } else {
    out.scheme = "http";
  }
  if (out.scheme != "http" && out.scheme != "https") return bad("the scheme must be http or https");
  const auto path_start = rest.find('/');
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos)
    return bad("credentials in the URL are not supported; set api_key or the API key environment variable");
  if (path.find_first_of("?#") != std::string_view::npos) return bad("query strings and fragments are not supported");
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 literal");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after the IPv6 literal");
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("no host");
  if (!port_text.empty()) {
    int port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return bad("the port is not a number");
      port = port * 10 + (c - '0');
      if (port > 65535) return bad("the port is out of range");
    }
    if (port == 0) return bad("the port is out of range");
    out.port = port;
  } else {
    out.port = out.https() ? 443 : 80;
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.prefix = std::string(path);
  return out;
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
