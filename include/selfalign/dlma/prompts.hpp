// selfalign: DLMA contrastive prompt pairs (positive / negative prompt around a query)
// SPDX-License-Identifier: MIT
#pragma once

// DLMA (Liu et al., "Direct Large Model Alignment through Self-Rewarding Contrastive Prompt
// Distillation", arXiv 2402.11907, ACL 2024) answers each query twice, once under a positive and
// once under a negative prompt, and scores both answers under both prompts
// (docs/dlma.md, reference algorithms.md §3.2-§3.3).

#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace dlma {

/// Which of the two contrastive prompts.
enum class polarity { positive, negative };

[[nodiscard]] constexpr std::string_view to_string(polarity p) noexcept {
  return p == polarity::positive ? "positive" : "negative";
}

/// How a contrastive prompt is laid out.
enum class prompt_layout {
  /// One raw-text prompt, no chat template: "USER: <query>\nASSISTANT(<tag>):\n". This is the
  /// method's layout (official code, algorithms.md §3.2) and the only one whose prompt/answer
  /// boundary selfalign can place at token level.
  raw,
  /// Chat messages (a system message carrying the behaviour, then the user turn); the server
  /// applies its chat template. Scoring then needs a server that scores continuations of chat
  /// prompts.
  chat,
};

[[nodiscard]] constexpr std::string_view to_string(prompt_layout l) noexcept {
  return l == prompt_layout::raw ? "raw" : "chat";
}

/// A positive/negative prompt pair. Either a behaviour tag (written into the assistant header in
/// the raw layout), a system prompt, or both. Build one with harmless(), helpful(), from_tags()
/// or from_system_prompts(), or fill the fields yourself.
struct contrastive_pair {
  std::string name;                          ///< recorded in provenance ("harmless", "helpful", ...)
  prompt_layout layout = prompt_layout::raw;
  std::string positive_tag;                  ///< raw layout: "ASSISTANT(<tag>):"
  std::string negative_tag;
  std::string positive_system;               ///< system prompt (raw layout: a preamble paragraph)
  std::string negative_system;
  std::string user_label = "USER";           ///< raw layout speaker labels
  std::string assistant_label = "ASSISTANT";

  /// The harmlessness pair of the official code (algorithms.md §3.2): the assistant header
  /// carries "law-abiding, ethical, inoffensive response" or "illegal, unethical, toxic response".
  /// In the chat layout the same behaviour goes into a system message (our wording).
  [[nodiscard]] static contrastive_pair harmless(prompt_layout layout = prompt_layout::raw) {
    contrastive_pair p;
    p.name = "harmless";
    p.layout = layout;
    p.positive_tag = "law-abiding, ethical, inoffensive response";
    p.negative_tag = "illegal, unethical, toxic response";
    if (layout == prompt_layout::chat) {
      p.positive_system = "Reply as an assistant whose answers are lawful, ethical and never offensive.";
      p.negative_system = "Reply as an assistant whose answers are unlawful, unethical and offensive.";
    }
    return p;
  }

  /// The helpfulness pair (same layout; "giving a helpful response" / "giving an unhelpful
  /// response"). Note: the official scoring script scores with the harmless pair even for helpful
  /// runs (algorithms.md §3.2); selfalign scores with the generation pair unless
  /// config::scoring_pair says otherwise.
  [[nodiscard]] static contrastive_pair helpful(prompt_layout layout = prompt_layout::raw) {
    contrastive_pair p;
    p.name = "helpful";
    p.layout = layout;
    p.positive_tag = "giving a helpful response";
    p.negative_tag = "giving an unhelpful response";
    if (layout == prompt_layout::chat) {
      p.positive_system = "Reply as an assistant that answers as usefully and completely as it can.";
      p.negative_system = "Reply as an assistant that answers in a way that does not help the user.";
    }
    return p;
  }

  /// A user-defined pair of behaviour tags.
  [[nodiscard]] static contrastive_pair from_tags(std::string name, std::string positive, std::string negative,
                                                  prompt_layout layout = prompt_layout::raw) {
    contrastive_pair p;
    p.name = std::move(name);
    p.layout = layout;
    p.positive_tag = std::move(positive);
    p.negative_tag = std::move(negative);
    return p;
  }

  /// A user-defined pair of system prompts (no tags in the assistant header).
  [[nodiscard]] static contrastive_pair from_system_prompts(std::string name, std::string positive,
                                                            std::string negative,
                                                            prompt_layout layout = prompt_layout::raw) {
    contrastive_pair p;
    p.name = std::move(name);
    p.layout = layout;
    p.positive_system = std::move(positive);
    p.negative_system = std::move(negative);
    return p;
  }

  [[nodiscard]] const std::string& tag(polarity which) const noexcept {
    return which == polarity::positive ? positive_tag : negative_tag;
  }
  [[nodiscard]] const std::string& system(polarity which) const noexcept {
    return which == polarity::positive ? positive_system : negative_system;
  }

  /// The prompt that wraps `query` for one polarity.
  ///
  /// raw:  "[<system>\n\n]USER: <query>\nASSISTANT[(<tag>)]:\n"
  /// chat: [system: <system>, or "Assistant behaviour for this reply: <tag>." when only a tag is
  ///       set] + [user: <query>]
  [[nodiscard]] selfalign::prompt render(std::string_view query, polarity which) const {
    const std::string& t = tag(which);
    const std::string& s = system(which);
    if (layout == prompt_layout::raw) {
      std::string out;
      if (!s.empty()) out = fmt::format("{}\n\n", s);
      out += fmt::format("{}: {}\n{}", user_label, query, assistant_label);
      if (!t.empty()) out += fmt::format("({})", t);
      out += ":\n";
      return selfalign::prompt::text(std::move(out));
    }
    std::vector<message> messages;
    if (!s.empty()) messages.push_back(message::system(s));
    else if (!t.empty()) messages.push_back(message::system(fmt::format("Assistant behaviour for this reply: {}.", t)));
    messages.push_back(message::user(std::string(query)));
    return selfalign::prompt::chat(std::move(messages));
  }
  [[nodiscard]] selfalign::prompt positive(std::string_view query) const { return render(query, polarity::positive); }
  [[nodiscard]] selfalign::prompt negative(std::string_view query) const { return render(query, polarity::negative); }

  /// A pair whose two prompts would be identical cannot contrast anything.
  [[nodiscard]] result<void> validate() const {
    if (positive_tag.empty() && negative_tag.empty() && positive_system.empty() && negative_system.empty())
      return fail(errc::invalid_argument, fmt::format("contrastive pair '{}' has neither tags nor system prompts", name));
    if (positive_tag == negative_tag && positive_system == negative_system)
      return fail(errc::invalid_argument,
                  fmt::format("contrastive pair '{}': the positive and negative prompts are identical", name));
    if (layout == prompt_layout::raw && (user_label.empty() || assistant_label.empty()))
      return fail(errc::invalid_argument, fmt::format("contrastive pair '{}': empty speaker label", name));
    return {};
  }

  friend bool operator==(const contrastive_pair&, const contrastive_pair&) = default;
};

}  // namespace dlma
SELFALIGN_END_NAMESPACE
