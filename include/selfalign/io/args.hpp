// selfalign: command-line argument parsing for the selfalign CLI and user tools
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace io {

/// The options and positionals given on one command line.
class parsed_args {
 public:
  [[nodiscard]] bool has(std::string_view name) const { return flags_.count(std::string(name)) > 0 || values_.count(std::string(name)) > 0; }
  [[nodiscard]] std::optional<std::string> get(std::string_view name) const {
    auto it = values_.find(std::string(name));
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  [[nodiscard]] std::string get_or(std::string_view name, std::string fallback) const {
    auto v = get(name);
    return v ? *v : std::move(fallback);
  }
  /// An integer option; errc::invalid_argument names the option and the bad value.
  [[nodiscard]] result<std::optional<std::int64_t>> get_int(std::string_view name, std::int64_t min_value = INT64_MIN) const {
    auto v = get(name);
    if (!v) return std::optional<std::int64_t>{};
    std::int64_t out = 0;
    const auto* end = v->data() + v->size();
    auto [p, ec] = std::from_chars(v->data(), end, out);
    if (ec != std::errc{} || p != end)
      return fail(errc::invalid_argument, fmt::format("--{} expects an integer, got '{}'", name, *v));
    if (out < min_value) return fail(errc::invalid_argument, fmt::format("--{} must be at least {}, got {}", name, min_value, out));
    return std::optional<std::int64_t>{out};
  }
  /// A number option (e.g. dollars, seconds); must be >= min_value.
  [[nodiscard]] result<std::optional<double>> get_double(std::string_view name, double min_value = 0.0) const {
    auto v = get(name);
    if (!v) return std::optional<double>{};
    std::size_t used = 0;
    double out = 0;
    try {
      out = std::stod(*v, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != v->size() || !std::isfinite(out))
      return fail(errc::invalid_argument, fmt::format("--{} expects a number, got '{}'", name, *v));
    if (out < min_value) return fail(errc::invalid_argument, fmt::format("--{} must be at least {}, got {}", name, min_value, *v));
    return std::optional<double>{out};
  }
  /// An option with a fixed set of values ("raw" or "chat"); `fallback` when absent. Anything else
  /// is errc::invalid_argument listing the choices.
  [[nodiscard]] result<std::string> get_choice(std::string_view name, std::string fallback,
                                               std::initializer_list<std::string_view> allowed) const {
    std::string v = get_or(name, std::move(fallback));
    for (auto a : allowed)
      if (v == a) return v;
    std::string list;
    std::size_t i = 0;
    for (auto a : allowed) {
      if (i > 0) list += (i + 1 == allowed.size()) ? " or " : ", ";
      list += a;
      ++i;
    }
    return fail(errc::invalid_argument, fmt::format("--{} must be {}, got '{}'", name, list, v));
  }
  [[nodiscard]] const std::vector<std::string>& positionals() const noexcept { return positionals_; }
  [[nodiscard]] bool help_requested() const noexcept { return help_; }

 private:
  friend class arg_parser;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positionals_;
  bool help_ = false;
};

/// Declares a command's options and parses a command line against them. Accepts `--name value`,
/// `--name=value`, flags, `-` as a positional (standard input) and `--` to end options. `-h` and
/// `--help` request help. Unknown options, missing values and wrong positional counts are
/// errc::invalid_argument with a message that names the problem.
class arg_parser {
 public:
  arg_parser(std::string usage, std::string summary) : usage_(std::move(usage)), summary_(std::move(summary)) {}

  arg_parser& section(std::string title) {
    items_.push_back({item::kind_t::section, std::move(title), {}, {}, {}});
    return *this;
  }
  arg_parser& flag(std::string name, std::string help) {
    items_.push_back({item::kind_t::flag, std::move(name), {}, std::move(help), {}});
    return *this;
  }
  arg_parser& option(std::string name, std::string value_name, std::string help) {
    items_.push_back({item::kind_t::option, std::move(name), std::move(value_name), std::move(help), {}});
    return *this;
  }
  /// Another spelling of the option (or flag) `name` declared before: `--old` is read as `--name`
  /// (an old name kept after a rename). Its value is found under `name`; help lists it there.
  arg_parser& alias(std::string old_name, const std::string& name) {
    for (auto& it : items_)
      if (it.kind != item::kind_t::section && it.name == name) {
        it.aliases.push_back(old_name);
        aliases_[std::move(old_name)] = name;
        break;
      }
    return *this;
  }
  /// Positional arguments: between `min` and `max` of them.
  arg_parser& positionals(std::size_t min, std::size_t max, std::string help) {
    min_pos_ = min;
    max_pos_ = max;
    positional_help_ = std::move(help);
    return *this;
  }
  arg_parser& example(std::string line) {
    examples_.push_back(std::move(line));
    return *this;
  }

  [[nodiscard]] result<parsed_args> parse(std::span<const std::string> args) const {
    parsed_args out;
    std::set<std::string> via_alias;  // options that were given under an old spelling
    bool options_done = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (options_done || a == "-" || a.empty() || a[0] != '-') {
        out.positionals_.push_back(a);
        continue;
      }
      if (a == "--") {
        options_done = true;
        continue;
      }
      if (a == "-h" || a == "--help") {
        out.help_ = true;
        continue;
      }
      if (a.rfind("--", 0) != 0) return fail(errc::invalid_argument, fmt::format("unknown option '{}' (options start with --)", a));
      std::string name = a.substr(2);
      std::optional<std::string> inline_value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
      // An old spelling is read as the option's name; both spellings on one line is an error.
      if (auto al = aliases_.find(name); al != aliases_.end()) {
        if (out.has(al->second) && !via_alias.count(al->second))
          return fail(errc::invalid_argument, fmt::format("--{} is another name for --{}; give only one", name, al->second));
        name = al->second;
        via_alias.insert(name);
      } else if (via_alias.count(name)) {
        return fail(errc::invalid_argument, fmt::format("--{} was also given under another name; give only one", name));
      }
      const item* spec = find(name);
      if (!spec) return fail(errc::invalid_argument, fmt::format("unknown option '--{}'{}", name, suggestion(name)));
      if (spec->kind == item::kind_t::flag) {
        if (inline_value) return fail(errc::invalid_argument, fmt::format("--{} takes no value", name));
        out.flags_.insert(name);
        continue;
      }
      if (inline_value) {
        out.values_[name] = *inline_value;
      } else if (i + 1 < args.size()) {
        out.values_[name] = args[++i];
      } else {
        return fail(errc::invalid_argument, fmt::format("--{} needs a value ({})", name, spec->value_name));
      }
    }
    if (out.help_) return out;
    if (out.positionals_.size() < min_pos_ || out.positionals_.size() > max_pos_) {
      if (max_pos_ == 0) return fail(errc::invalid_argument, fmt::format("unexpected argument '{}'", out.positionals_.front()));
      if (out.positionals_.size() < min_pos_) return fail(errc::invalid_argument, fmt::format("missing {}", positional_help_));
      return fail(errc::invalid_argument, fmt::format("too many arguments: expected {}, got {}", positional_help_,
                                                      out.positionals_.size()));
    }
    return out;
  }

  /// The help text: usage, summary, options with their help, examples.
  [[nodiscard]] std::string help() const {
    std::string out = fmt::format("usage: {}\n\n{}\n", usage_, summary_);
    std::size_t width = 0;
    for (const auto& it : items_)
      if (it.kind != item::kind_t::section) width = std::max(width, label(it).size());
    for (const auto& it : items_) {
      if (it.kind == item::kind_t::section) {
        out += fmt::format("\n{}:\n", it.name);
        continue;
      }
      // A help text with newlines continues under its first line.
      std::string help = it.help;
      for (const auto& a : it.aliases) help += fmt::format(" (also --{})", a);
      for (std::size_t pos = help.find('\n'); pos != std::string::npos; pos = help.find('\n', pos + 1))
        help.insert(pos + 1, std::string(width + 4, ' '));
      out += fmt::format("  {:<{}}  {}\n", label(it), width, help);
    }
    if (!examples_.empty()) {
      out += "\nexamples:\n";
      for (const auto& e : examples_) out += "  " + e + "\n";
    }
    return out;
  }

  /// Every option name this parser knows (for documentation checks).
  [[nodiscard]] std::vector<std::string> option_names() const {
    std::vector<std::string> names;
    for (const auto& it : items_)
      if (it.kind != item::kind_t::section) names.push_back(it.name);
    return names;
  }

 private:
  struct item {
    enum class kind_t { section, flag, option } kind;
    std::string name, value_name, help;
    std::vector<std::string> aliases;
  };
  static std::string label(const item& it) {
    return it.kind == item::kind_t::option ? fmt::format("--{} {}", it.name, it.value_name) : "--" + it.name;
  }
  const item* find(const std::string& name) const {
    for (const auto& it : items_)
      if (it.kind != item::kind_t::section && it.name == name) return &it;
    return nullptr;
  }
  std::string suggestion(const std::string& name) const {
    // The closest known option by edit distance, when it is close enough to be a typo.
    std::string best;
    std::size_t best_d = 3;
    for (const auto& it : items_) {
      if (it.kind == item::kind_t::section) continue;
      const std::size_t d = distance(name, it.name);
      if (d < best_d) {
        best_d = d;
        best = it.name;
      }
    }
    return best.empty() ? std::string{} : fmt::format("; did you mean '--{}'?", best);
  }
  static std::size_t distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    return prev[b.size()];
  }

  std::string usage_, summary_;
  std::vector<item> items_;
  std::map<std::string, std::string> aliases_;  ///< old spelling -> option name
  std::vector<std::string> examples_;
  std::size_t min_pos_ = 0, max_pos_ = 0;
  std::string positional_help_;
};

}  // namespace io
SELFALIGN_END_NAMESPACE
