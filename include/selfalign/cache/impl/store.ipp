// selfalign: definitions for <selfalign/cache/store.hpp> (cache_store — where cached<> keeps finished answers: in memory, in a JSONL file, or)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/cache/store.hpp>
#include <selfalign/detail/format.hpp>
#include <selfalign/detail/file_sync.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace detail {

SELFALIGN_DECL std::string answer_check(std::string_view value_text) {
  return sha256::hex(sha256::of(value_text), 8);
}

SELFALIGN_DECL nlohmann::json parse_record_json(std::string_view text) {
  auto j = parse_json(text);
  if (!j) return nlohmann::json(nlohmann::json::value_t::discarded);
  return std::move(*j);
}

SELFALIGN_DECL jsonl_cache_scan read_jsonl_cache(std::string_view bytes, const std::string& source,
                                         const std::function<void(std::string, std::string)>& add,
                                         const std::function<void(const std::string&)>& warn) {
  jsonl_cache_scan scan;
  std::size_t lineno = 0, pos = 0;
  while (pos < bytes.size()) {
    const std::size_t nl = bytes.find('\n', pos);
    const std::string_view line = bytes.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    ++lineno;
    scan.ends_mid_line = nl == std::string_view::npos;
    pos = nl == std::string_view::npos ? bytes.size() : nl + 1;
    if (line.empty()) continue;
    auto skip = [&](const char* why) {
      ++scan.skipped;
      if (warn)
        warn(selfalign::detail::format_text("{}:{}: skipped an unreadable cache record ({} bytes; {})", source, lineno, line.size(), why));
    };
    auto j = parse_record_json(line);
    if (j.is_discarded() || !j.is_object()) {
      skip("a run killed mid-write leaves one");
      continue;
    }
    auto key = j.find("key");
    auto value = j.find("value");
    if (key == j.end() || !key->is_string() || value == j.end()) {
      skip("not a cache record");
      continue;
    }
    std::string text;
    try {
      text = value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const nlohmann::json::exception&) {
      skip("its value cannot be written back");
      continue;
    }
    if (auto check = j.find("check"); check != j.end()) {
      if (!check->is_string() || check->get_ref<const std::string&>() != answer_check(text)) {
        skip("damaged: its check does not match its value");
        continue;
      }
    }
    add(key->get<std::string>(), std::move(text));
    ++scan.loaded;
  }
  return scan;
}

SELFALIGN_DECL std::string jsonl_cache_line(const std::string& key, const std::string& value_text) {
  // The value is spliced in as text: it is already canonical JSON (dumped with invalid UTF-8 replaced).
  std::string line = "{\"check\":\"" + answer_check(value_text) + "\",\"key\":";
  line += nlohmann::json(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += ",\"value\":";
  line += value_text;
  line += "}\n";
  return line;
}

}  // namespace detail
SELFALIGN_DECL bool cache_store::is_sqlite_path(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    char magic[16] = {};
    in.read(magic, sizeof magic);
    if (in.gcount() > 0) return in.gcount() == 16 && std::string_view(magic, 16) == std::string_view("SQLite format 3\0", 16);
  }
  const std::string ext = path.extension().string();
  return ext != ".jsonl" && ext != ".json" && ext != ".ndjson";
}

SELFALIGN_DECL std::optional<nlohmann::json> cache_store::lookup(const std::string& key, const cache_record_info& info) {
  auto out = peek(key, info);
  count_lookup(info, out.has_value());
  return out;
}

SELFALIGN_DECL std::optional<nlohmann::json> cache_store::peek(const std::string& key, const cache_record_info& info, bool* unusable) {
  bool refused = false;
  std::optional<std::string> text = find(key, refused);
  if (unusable) *unusable = refused;
  if (!text) return std::nullopt;
  auto j = detail::parse_record_json(*text);
  if (j.is_discarded()) {
    if (unusable) *unusable = true;
    reject(selfalign::detail::format_text("the cached answer for a '{}' call of role '{}' is damaged (unreadable JSON); asking again",
                       info.op, info.role));
    return std::nullopt;
  }
  return j;
}

SELFALIGN_DECL void cache_store::count_lookup(const cache_record_info& info, bool hit) {
  std::lock_guard lock(stats_mutex_);
  auto& by = by_role_[{info.role, info.model}];
  if (hit) {
    ++stats_.hits;
    ++by.hits;
  } else {
    ++stats_.misses;
    ++by.misses;
  }
}

SELFALIGN_DECL result<void> cache_store::insert(const std::string& key, const nlohmann::json& value, const cache_record_info& info) {
  std::string text;
  try {
    // error_handler_t::replace: a model answer with invalid UTF-8 must not make the record unwritable.
    text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const nlohmann::json::exception& e) {
    return fail(errc::internal, selfalign::detail::format_text("cannot serialize an answer for the cache: {}", e.what()));
  }
  return put(key, text, info);
}

SELFALIGN_DECL void cache_store::reject(const std::string& why) {
  {
    std::lock_guard lock(stats_mutex_);
    ++stats_.rejected;
  }
  warn(why);
}

SELFALIGN_DECL void cache_store::warn(const std::string& message) const {
  if (opts_.on_warning) opts_.on_warning(message);
}

SELFALIGN_DECL cache_store::claim_result cache_store::claim(const std::string& /*key*/, bool /*stored_unusable*/) {
  return claim_result::claimed;
}

SELFALIGN_DECL void cache_store::note_wait() {
  std::lock_guard lock(stats_mutex_);
  ++stats_.waits;
}

SELFALIGN_DECL cache_stats cache_store::stats() const {
  cache_stats s;
  {
    std::lock_guard lock(stats_mutex_);
    s = stats_;
  }
  s.entries = count();
  return s;
}

SELFALIGN_DECL std::map<std::pair<std::string, std::string>, cache_role_stats> cache_store::stats_by_role() const {
  std::lock_guard lock(stats_mutex_);
  return by_role_;
}

SELFALIGN_DECL result<void> cache_store::for_each(const std::function<bool(const std::string&, const std::string&)>& fn) const {
  std::vector<std::pair<std::string, std::string>> copy;
  {
    std::lock_guard lock(map_mutex_);
    copy.assign(map_.begin(), map_.end());
  }
  for (const auto& [k, v] : copy)
    if (!fn(k, v)) break;
  return {};
}

SELFALIGN_DECL result<void> cache_store::insert_text(const std::string& key, const std::string& value_text, const cache_record_info& info) {
  auto j = detail::parse_record_json(value_text);
  if (j.is_discarded()) return fail(errc::invalid_argument, "a record's value is not valid JSON");
  return insert(key, j, info);
}

SELFALIGN_DECL std::optional<std::string> cache_store::find(const std::string& key, bool& /*unusable*/) {
  std::lock_guard lock(map_mutex_);
  auto it = map_.find(key);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

SELFALIGN_DECL result<void> cache_store::put(const std::string& key, const std::string& value_text, const cache_record_info& /*info*/) {
  std::lock_guard lock(map_mutex_);
  map_.insert_or_assign(key, value_text);
  return {};
}

SELFALIGN_DECL std::size_t cache_store::count() const {
  std::lock_guard lock(map_mutex_);
  return map_.size();
}

SELFALIGN_DECL jsonl_cache_store::~jsonl_cache_store() {
  if (file_) std::fclose(file_);
}

SELFALIGN_DECL result<std::shared_ptr<cache_store>> jsonl_cache_store::open(const std::filesystem::path& path, cache_options opts) {
  auto store = std::make_shared<jsonl_cache_store>();
  store->opts_ = std::move(opts);
  store->path_ = path;
  if (auto r = store->load(); !r) return unexpected(std::move(r).error());
  return std::shared_ptr<cache_store>(std::move(store));
}

SELFALIGN_DECL std::string jsonl_cache_store::kind() const { return "jsonl"; }

SELFALIGN_DECL result<void> jsonl_cache_store::put(const std::string& key, const std::string& value_text, const cache_record_info& info) {
  const std::string line = detail::jsonl_cache_line(key, value_text);
  {
    std::lock_guard lock(file_mutex_);
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
      return fail(errc::io, selfalign::detail::format_text("cannot append to cache file {}", path_.string()));
    if (opts_.fsync) (void)detail::sync_file(file_);
  }
  return cache_store::put(key, value_text, info);
}

SELFALIGN_DECL result<void> jsonl_cache_store::load() {
  std::string bytes;
  {
    std::ifstream in(path_, std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      bytes = std::move(ss).str();
    }
  }
  auto scan = detail::read_jsonl_cache(
      bytes, path_.string(), [this](std::string k, std::string v) { map_.insert_or_assign(std::move(k), std::move(v)); },
      [this](const std::string& w) { warn(w); });
  bytes.clear();
  bytes.shrink_to_fit();
  stats_.loaded = scan.loaded;
  stats_.skipped_lines = scan.skipped;
  file_ = std::fopen(path_.c_str(), "ab");
  if (!file_) return fail(errc::io, selfalign::detail::format_text("cannot open cache file {} for appending", path_.string()));
  if (scan.ends_mid_line) {
    std::fputc('\n', file_);
    std::fflush(file_);
  }
  return {};
}

namespace detail {

SELFALIGN_DECL sqlite_cache_opener& sqlite_opener() noexcept {
  static sqlite_cache_opener opener = nullptr;
  return opener;
}

}  // namespace detail
SELFALIGN_DECL result<std::shared_ptr<cache_store>> cache_store::open_jsonl(const std::filesystem::path& path, cache_options opts) {
  return jsonl_cache_store::open(path, std::move(opts));
}

SELFALIGN_DECL result<std::shared_ptr<cache_store>> cache_store::open_sqlite(const std::filesystem::path& path, cache_options opts) {
  if (auto opener = detail::sqlite_opener()) return opener(path, std::move(opts));
  return fail(errc::unsupported, selfalign::detail::format_text("cannot open the SQLite cache {}: this program was built without SQLite support "
                                             "(link selfalign::sqlite and include <selfalign/cache/sqlite_store.hpp>)",
                                             path.string()));
}

SELFALIGN_DECL result<std::shared_ptr<cache_store>> cache_store::open(const std::filesystem::path& path, cache_options opts) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) > 0;
  if (is_sqlite_path(path) && (exists || detail::sqlite_opener())) return open_sqlite(path, std::move(opts));
  return open_jsonl(path, std::move(opts));
}

SELFALIGN_END_NAMESPACE
