// selfalign CLI: a command's options, parsed with CLI11 — from the command line, a --config TOML
// file and environment variables, in that order of precedence — and the effective configuration of
// a run written back as TOML so that `--config` repeats it
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/result.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cli {

/// The options and positionals of one run, by option name (aliases resolved). Values are checked
/// where they are read, so an error names the option whatever gave it (command line, file, environment).
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
  [[nodiscard]] selfalign::result<std::optional<std::int64_t>> get_int(std::string_view name, std::int64_t min_value = INT64_MIN) const {
    auto v = get(name);
    if (!v) return std::optional<std::int64_t>{};
    std::int64_t out = 0;
    const auto* end = v->data() + v->size();
    auto [p, ec] = std::from_chars(v->data(), end, out);
    if (ec != std::errc{} || p != end)
      return selfalign::fail(selfalign::errc::invalid_argument, fmt::format("--{} expects an integer, got '{}'", name, *v));
    if (out < min_value)
      return selfalign::fail(selfalign::errc::invalid_argument, fmt::format("--{} must be at least {}, got {}", name, min_value, out));
    return std::optional<std::int64_t>{out};
  }
  /// A number option (e.g. dollars, seconds); must be >= min_value.
  [[nodiscard]] selfalign::result<std::optional<double>> get_double(std::string_view name, double min_value = 0.0) const {
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
      return selfalign::fail(selfalign::errc::invalid_argument, fmt::format("--{} expects a number, got '{}'", name, *v));
    if (out < min_value)
      return selfalign::fail(selfalign::errc::invalid_argument, fmt::format("--{} must be at least {}, got {}", name, min_value, *v));
    return std::optional<double>{out};
  }
  /// An option with a fixed set of values; `fallback` when absent. Anything else is
  /// errc::invalid_argument listing the choices.
  [[nodiscard]] selfalign::result<std::string> get_choice(std::string_view name, std::string fallback,
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
    return selfalign::fail(selfalign::errc::invalid_argument, fmt::format("--{} must be {}, got '{}'", name, list, v));
  }
  [[nodiscard]] const std::vector<std::string>& positionals() const noexcept { return positionals_; }
  [[nodiscard]] bool help_requested() const noexcept { return help_; }

 private:
  friend class command_line;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positionals_;
  bool help_ = false;
};

/// Declares a command's options (in titled sections, CLI11 option groups) and parses a command line
/// with CLI11: `--name value`, `--name=value`, flags, `-` as a positional, `--` to end options,
/// `-h`/`--help`. Every command also takes `--config FILE` (TOML: `name = value` for any option,
/// `input = "..."` for the positionals); the command line wins over the file, the file over an
/// option's environment variable. Single use: parse once, then ask for the effective configuration.
class command_line {
 public:
  command_line(std::string usage, std::string summary)
      : usage_(std::move(usage)), summary_(std::move(summary)), app_(std::make_unique<CLI::App>(summary_)) {
    app_->set_help_flag("-h,--help");
    app_->allow_extras(true);  // unknown options and extra positionals: our messages, below
    app_->allow_config_extras(CLI::config_extras_mode::error);
    // The same option twice: the last one wins (as before CLI11; a config file cannot repeat a key).
    app_->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }

  command_line& section(std::string title) {
    section_ = std::move(title);
    items_.push_back({item::kind_t::section, section_, {}, {}, {}, {}, nullptr});
    return *this;
  }
  command_line& flag(std::string name, std::string help) {
    flag_values_.push_back(false);
    auto* o = app_->add_flag("--" + name, flag_values_.back(), help)->group(group());
    items_.push_back({item::kind_t::flag, std::move(name), {}, std::move(help), {}, {}, o});
    return *this;
  }
  command_line& option(std::string name, std::string value_name, std::string help) {
    values_.emplace_back();
    auto* o = app_->add_option("--" + name, values_.back(), help)->type_name(value_name)->group(group());
    items_.push_back({item::kind_t::option, std::move(name), std::move(value_name), std::move(help), {}, {}, o});
    return *this;
  }
  /// The option declared last also comes from environment variable `var` (below the command line
  /// and the config file). Help says so.
  command_line& env(std::string var) {
    auto& it = items_.back();
    it.option->envname(var);
    it.env = std::move(var);
    return *this;
  }
  /// Another spelling of the option `name` declared before (an old name kept after a rename). Its
  /// value is found under `name`; help lists it there; both spellings on one line is an error.
  command_line& alias(std::string old_name, const std::string& name) {
    for (auto& it : items_)
      if (it.kind != item::kind_t::section && it.name == name) {
        it.aliases.push_back(old_name);
        values_.emplace_back();
        // Hidden (group ""): listed in the help of the option it stands for.
        auto* o = app_->add_option("--" + old_name, values_.back(), "another name for --" + name)->type_name(it.value_name)->group("");
        aliases_.push_back({std::move(old_name), name, o, it.option});
        break;
      }
    return *this;
  }
  /// Positional arguments: between `min` and `max` of them; `name` is their key in a config file.
  command_line& positionals(std::size_t min, std::size_t max, std::string help, std::string name = "input") {
    min_pos_ = min;
    max_pos_ = max;
    positional_help_ = std::move(help);
    if (max > 0) positional_ = app_->add_option(name, *positional_values_, positional_help_)->expected(0, static_cast<int>(max))->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    return *this;
  }
  command_line& example(std::string line) {
    examples_.push_back(std::move(line));
    return *this;
  }
  /// Adds --config FILE to the current section (call once, after the options it should follow).
  command_line& config_option() {
    const std::string help = "read options from a TOML file, 'name = value' per option (e.g. quiet = true) and\n"
                             "the positionals under their name (see docs/cli.md); the command line wins over the file";
    config_ = app_->set_config("--config", "", help)->type_name("FILE")->group(group());
    items_.push_back({item::kind_t::option, "config", "FILE", help, {}, {}, config_});
    return *this;
  }

  /// Parses `args`. Errors (unknown option, missing value, wrong number of positionals, an
  /// unreadable or unknown key in --config) are errc::invalid_argument naming the problem.
  [[nodiscard]] selfalign::result<parsed_args> parse(std::span<const std::string> args) {
    using selfalign::errc;
    using selfalign::fail;
    parsed_args out;
    // CLI11 takes its arguments last first.
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
      app_->parse(reversed);
    } catch (const CLI::CallForHelp&) {
      out.help_ = true;
      return out;
    } catch (const CLI::FileError& e) {
      return fail(errc::invalid_argument, fmt::format("--config: {}", e.what()));
    } catch (const CLI::ConfigError& e) {
      // A key that names no option: said as for the command line.
      constexpr std::string_view extra = "INI was not able to parse ";
      const std::string what = e.what();
      if (what.rfind(extra, 0) == 0) {
        const std::string name = what.substr(extra.size());
        return fail(errc::invalid_argument, fmt::format("--config {}: unknown option '{}'{}", config_file(), name, suggestion(name)));
      }
      return fail(errc::invalid_argument, fmt::format("--config {}: {}", config_file(), what));
    } catch (const CLI::ParseError& e) {
      return fail(errc::invalid_argument, parse_error_message(e, args));
    }
    std::size_t extra_positionals = 0;
    std::string first_extra;
    bool options_done = false;  // after "--" every argument is a positional
    for (const auto& a : app_->remaining()) {
      if (a == "--" && !options_done) {
        options_done = true;
        continue;
      }
      if (!options_done && a.size() > 1 && a[0] == '-') {
        if (a.rfind("--", 0) != 0) return fail(errc::invalid_argument, fmt::format("unknown option '{}' (options start with --)", a));
        const std::string name = a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
        return fail(errc::invalid_argument, fmt::format("unknown option '--{}'{}", name, suggestion(name)));
      }
      // CLI11 leaves what follows "--" unread once its positionals are full, or always when it has none.
      if (options_done && positional_values_->size() < max_pos_) {
        positional_values_->push_back(a);
        continue;
      }
      if (first_extra.empty()) first_extra = a;
      ++extra_positionals;
    }
    out.positionals_ = *positional_values_;
    const std::size_t given = out.positionals_.size() + extra_positionals;
    if (max_pos_ == 0 && given > 0) return fail(errc::invalid_argument, fmt::format("unexpected argument '{}'", first_extra));
    if (given > max_pos_)
      return fail(errc::invalid_argument, fmt::format("too many arguments: expected {}, got {}", positional_help_, given));
    if (out.positionals_.size() < min_pos_) return fail(errc::invalid_argument, fmt::format("missing {}", positional_help_));
    for (const auto& it : items_) {
      if (it.kind == item::kind_t::section || it.option == config_ || it.option->count() == 0) continue;
      if (it.kind == item::kind_t::flag) {
        if (it.option->as<bool>()) out.flags_.insert(it.name);
      } else {
        out.values_[it.name] = it.option->as<std::string>();
      }
    }
    // An old spelling: read as the option's name. Both spellings on the command line is an error;
    // one on the command line and one in the config file: the command line wins.
    const auto& order = app_->parse_order();
    auto first_on_line = [&](const CLI::Option* o) { return std::find(order.begin(), order.end(), o); };
    for (const auto& a : aliases_) {
      if (a.alias->count() == 0) continue;
      const auto at_alias = first_on_line(a.alias), at_name = first_on_line(a.target);
      const bool alias_on_line = at_alias != order.end(), name_on_line = at_name != order.end();
      if (a.target->count() > 0 && alias_on_line == name_on_line) {
        if (alias_on_line && at_alias < at_name)
          return fail(errc::invalid_argument, fmt::format("--{} was also given under another name; give only one", a.name));
        return fail(errc::invalid_argument, fmt::format("--{} is another name for --{}; give only one", a.old_name, a.name));
      }
      if (a.target->count() == 0 || alias_on_line) out.values_[a.name] = a.alias->as<std::string>();
    }
    parsed_ = out;
    return out;
  }

  /// The help text: usage, summary, options by section with their help, examples.
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
      if (!it.env.empty()) help += fmt::format(" [env {}]", it.env);
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

  /// After parse(): the run's effective configuration as TOML, every option that was set (by the
  /// command line, the config file or the environment) and the positionals, readable by --config.
  /// A value a TOML line cannot hold (a line break, or both quote characters) is left out with a
  /// comment saying so; `omitted` receives those options' names.
  [[nodiscard]] std::string effective_config(std::vector<std::string>* omitted = nullptr) const {
    std::string out;
    auto add = [&](const std::string& key, const std::vector<std::string>& values) {
      for (const auto& v : values)
        if (v.find_first_of("\r\n") != std::string::npos || (v.find('"') != std::string::npos && v.find('\'') != std::string::npos)) {
          out += fmt::format("# {}: not stored (its value does not fit one TOML line); give it on the command line\n", key);
          if (omitted) omitted->push_back(key);
          return;
        }
      out += fmt::format("{} = {}\n", key, CLI::detail::ini_join(values, ',', '[', ']', '"', '\''));
    };
    // The values as the run read them: an alias under its option's name, the file given to --config folded in.
    for (const auto& it : items_) {
      if (it.kind == item::kind_t::flag && parsed_.flags_.count(it.name)) out += fmt::format("{} = true\n", it.name);
      if (it.kind != item::kind_t::option || it.option == config_) continue;
      if (auto v = parsed_.get(it.name)) add(it.name, {*v});
    }
    if (positional_ && !parsed_.positionals_.empty()) add(positional_->get_name(), parsed_.positionals_);
    return out;
  }

 private:
  struct item {
    enum class kind_t { section, flag, option } kind;
    std::string name, value_name, help;
    std::vector<std::string> aliases;
    std::string env;
    CLI::Option* option;
  };
  struct alias_item {
    std::string old_name, name;
    CLI::Option* alias;
    CLI::Option* target;
  };
  std::string group() const { return section_.empty() ? std::string("options") : section_; }
  std::string config_file() const {
    if (!config_ || config_->count() == 0) return {};
    return config_->as<std::string>();
  }
  static std::string label(const item& it) {
    return it.kind == item::kind_t::option ? fmt::format("--{} {}", it.name, it.value_name) : "--" + it.name;
  }
  /// CLI11's message, said the way the rest of the CLI says it where we can tell what happened.
  std::string parse_error_message(const CLI::ParseError& e, std::span<const std::string> args) const {
    // An option with no value after it: the last argument, or followed by another option.
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i].rfind("--", 0) != 0 || args[i].find('=') != std::string::npos) continue;
      const std::string name = args[i].substr(2);
      const bool value_missing = i + 1 == args.size() || (args[i + 1].size() > 1 && args[i + 1][0] == '-');
      if (!value_missing) continue;
      for (const auto& it : items_)
        if (it.kind == item::kind_t::option && it.name == name) return fmt::format("--{} needs a value ({})", name, it.value_name);
      for (const auto& a : aliases_)
        if (a.old_name == name) return fmt::format("--{} needs a value", name);
    }
    return e.what();
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
  std::unique_ptr<CLI::App> app_;  // CLI::App does not move; the parser does
  std::string section_;
  std::vector<item> items_;
  std::vector<alias_item> aliases_;
  // CLI11 writes into these; deques keep their addresses as they grow.
  std::deque<std::string> values_;
  std::deque<bool> flag_values_;
  // Behind a pointer: CLI11 keeps a reference to the vector itself, which must survive a move.
  std::unique_ptr<std::vector<std::string>> positional_values_ = std::make_unique<std::vector<std::string>>();
  CLI::Option* positional_ = nullptr;
  CLI::Option* config_ = nullptr;
  std::vector<std::string> examples_;
  parsed_args parsed_;  ///< what parse() returned, for effective_config()
  std::size_t min_pos_ = 0, max_pos_ = 0;
  std::string positional_help_;
};

}  // namespace cli
