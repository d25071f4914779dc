// selfalign: the catalogue of alignment aspects the dynamic reward chooses from (DRPO's 14)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/types.hpp>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace judges {

/// One aspect of a good answer: a one-line description (shown when aspects are selected) and a
/// 1-5 rubric (shown when a response is scored on it).
struct aspect {
  std::string name;
  std::string description;
  std::string rubric;
  std::vector<std::string> aliases;  ///< other names a model may use ("Compliance with Instructions")

  [[nodiscard]] criterion to_criterion() const { return criterion{name, description, rubric, 1.0}; }
  friend bool operator==(const aspect&, const aspect&) = default;
};

/// Lower-cases and drops everything but letters and digits: "Critical-Thinking" and
/// "critical thinking" are the same aspect.
[[nodiscard]] SELFALIGN_DECL std::string normalize_aspect_name(std::string_view name);

/// The rubric for an aspect name the catalogue does not know (a selector may propose new aspects;
/// the original code crashed on them, we score them with this generic scale).
[[nodiscard]] SELFALIGN_DECL std::string generic_rubric(std::string_view name);

/// The aspects a judge may be asked about. The default holds the 14 aspects of the DRPO paper
/// with descriptions and rubrics written for selfalign. Replace or extend it freely.
class aspect_catalogue {
 public:
  aspect_catalogue() = default;
  explicit aspect_catalogue(std::vector<aspect> aspects) {
    for (auto& a : aspects) add(std::move(a));
  }

  /// Adds an aspect, replacing one with the same (normalized) name or alias.
  aspect_catalogue& add(aspect a) {
    if (auto* existing = find_mutable(a.name)) *existing = std::move(a);
    else aspects_.push_back(std::move(a));
    return *this;
  }
  /// Removes an aspect by name; returns whether it was there.
  bool remove(std::string_view name) {
    const auto key = normalize_aspect_name(name);
    const auto it = std::find_if(aspects_.begin(), aspects_.end(), [&](const aspect& a) { return matches(a, key); });
    if (it == aspects_.end()) return false;
    aspects_.erase(it);
    return true;
  }

  /// The aspect with this name or alias (case, spaces and dashes ignored), or nullptr.
  [[nodiscard]] const aspect* find(std::string_view name) const {
    const auto key = normalize_aspect_name(name);
    for (const auto& a : aspects_)
      if (matches(a, key)) return &a;
    return nullptr;
  }
  /// The catalogue's aspect, or an aspect with this name and the generic rubric.
  [[nodiscard]] aspect resolve(std::string_view name) const {
    if (const aspect* a = find(name)) return *a;
    return aspect{std::string(name), "A quality the judge asked for: " + std::string(name) + ".", generic_rubric(name), {}};
  }
  [[nodiscard]] bool contains(std::string_view name) const { return find(name) != nullptr; }

  [[nodiscard]] const std::vector<aspect>& aspects() const noexcept { return aspects_; }
  [[nodiscard]] std::size_t size() const noexcept { return aspects_.size(); }

  /// "- Name: description" lines, as shown to an aspect selector.
  [[nodiscard]] std::string describe() const {
    std::string out;
    for (const auto& a : aspects_) out += "- " + a.name + ": " + a.description + "\n";
    return out;
  }

 private:
  static bool matches(const aspect& a, const std::string& key) {
    if (normalize_aspect_name(a.name) == key) return true;
    return std::any_of(a.aliases.begin(), a.aliases.end(), [&](const std::string& x) { return normalize_aspect_name(x) == key; });
  }
  aspect* find_mutable(std::string_view name) {
    const auto key = normalize_aspect_name(name);
    for (auto& a : aspects_)
      if (matches(a, key)) return &a;
    return nullptr;
  }
  std::vector<aspect> aspects_;
};

/// The 14 aspects of the DRPO paper (names from the paper; descriptions and rubrics are ours).
/// The ICL-stage names of the original code ("Compliance with Instructions", "Acknowledgement of
/// Limitations", "Cultural Sensitivity") are aliases.
[[nodiscard]] SELFALIGN_DECL aspect_catalogue default_aspects();

}  // namespace judges
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/judges/impl/aspects.ipp>
#endif
