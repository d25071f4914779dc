// selfalign: rain::tree — the search tree over token sets: selection, backup with the similarity
// update, dynamic node addition, commit with subtree reuse; no model calls here
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/rain/config.hpp>
#include <selfalign/rain/detail/formulas.hpp>
#include <selfalign/types.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace rain {

/// One token as the backend named it: its text and, when the backend gives ids, its id.
struct token {
  std::string text;
  std::optional<token_id> id;
  bool eos = false;  ///< the end-of-sequence token (its text is not part of the response)
  friend bool operator==(const token&, const token&) = default;
};

/// A candidate token set with its (unnormalized) probability.
struct candidate {
  std::vector<token> tokens;
  double p = 0.0;
};

/// The identity of a token set: ids when every token has one, else the texts.
/// Built by appending in place: `"#" + std::to_string(id)` makes GCC 12 report a false -Wrestrict
/// in users' optimized builds (-O2/-O3) once inlined.
[[nodiscard]] inline std::string token_set_key(std::span<const token> ts) {
  std::string k;
  for (const auto& t : ts) {
    if (t.id) {
      k += '#';
      k += std::to_string(*t.id);
    } else {
      k += '\'';
      k += t.text;
    }
    k += '\x1f';
  }
  return k;
}

/// The response text of tokens (EOS contributes nothing).
[[nodiscard]] inline std::string text_of(std::span<const token> ts) {
  std::string s;
  for (const auto& t : ts)
    if (!t.eos) s += t.text;
  return s;
}

/// A node X_{i:j}: a token set in the context of its ancestors.
struct node {
  std::vector<token> tokens;   ///< the token set (empty for the original root)
  double prior = 0.0;          ///< p(X_{i:j} | X_{1:i-1}), normalized among siblings
  double n = 0.0;              ///< visit count, fractional through the similarity update
  int fn = 0;                  ///< real visits (no similarity mass) [C]
  double q = 0.0;              ///< value: weighted mean of the evaluations below
  std::vector<float> embedding;  ///< mean embedding of the simulated texts through this node (empty: none)
  int parent = -1;
  std::vector<int> children;
  int depth = 0;               ///< distance from the original root; children get length_schedule[depth]
  std::string path;            ///< child indices from the original root ("0.3.1"); names seeds
  bool terminal = false;       ///< contains EOS
  bool expanded = false;
  /// [C] what dynamic addition draws from: at L = 1 the top alternatives (p = raw probability,
  /// best first); at L > 1 the candidate list of the expansion (new samples are prepended).
  std::vector<candidate> stored;
  int additions = 0;           ///< dynamic-addition rounds at this node (names seeds)
};

/// What the dynamic-addition check asks for.
enum class addition { none, added_token, sample };

/// The tree: an arena of nodes with a movable root. Keeps the root's value range (minQ, maxQ).
class tree {
 public:
  tree() { nodes_.push_back(node{}); }

  [[nodiscard]] int root() const noexcept { return root_; }
  [[nodiscard]] node& at(int i) { return nodes_[static_cast<std::size_t>(i)]; }
  [[nodiscard]] const node& at(int i) const { return nodes_[static_cast<std::size_t>(i)]; }
  [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }
  [[nodiscard]] double min_q() const noexcept { return min_q_; }
  [[nodiscard]] double max_q() const noexcept { return max_q_; }
  [[nodiscard]] bool is_root(int i) const noexcept { return i == root_; }

  /// Adds a child and returns its index; a token set already present is not added (returns -1).
  int add_child(int parent, std::vector<token> tokens, double prior) {
    const std::string key = token_set_key(tokens);
    for (int c : at(parent).children)
      if (token_set_key(at(c).tokens) == key) return -1;
    node x;
    x.tokens = std::move(tokens);
    x.prior = prior;
    x.parent = parent;
    x.depth = at(parent).depth + 1;
    x.path = at(parent).path.empty() ? std::to_string(at(parent).children.size())
                                     : at(parent).path + "." + std::to_string(at(parent).children.size());
    x.terminal = std::any_of(x.tokens.begin(), x.tokens.end(), [](const token& t) { return t.eos; });
    nodes_.push_back(std::move(x));
    const int id = static_cast<int>(nodes_.size() - 1);
    at(parent).children.push_back(id);
    return id;
  }

  /// [C] expansion: candidates' probabilities normalized, mixed with uniform at the root.
  void expand(int parent, const std::vector<candidate>& cands, const config& cfg) {
    std::vector<double> p;
    for (const auto& c : cands) p.push_back(c.p);
    detail::normalize(p);
    if (is_root(parent)) p = detail::mix_root_prior(p, cfg.root_prior_weight);
    for (std::size_t i = 0; i < cands.size(); ++i) (void)add_child(parent, cands[i].tokens, p[i]);
    at(parent).expanded = true;
  }

  /// The selection score of child `c` under the configured rule.
  [[nodiscard]] double score(int c, const config& cfg) const {
    const node& x = at(c);
    const node& par = at(x.parent);
    if (cfg.selection == puct_rule::paper) {
      double sum = 0;
      for (int s : par.children) sum += at(s).n;
      return detail::puct_paper(x.q, x.n, x.prior, sum, cfg.c_puct);
    }
    return detail::puct_code(x.q, x.n, x.prior, par.n, min_q_, max_q_, cfg.c_puct);
  }

  /// The child with the best selection score (first on ties, as Python's max). -1 for a leaf.
  [[nodiscard]] int select(int parent, const config& cfg) const {
    int best = -1;
    double best_score = 0;
    for (int c : at(parent).children) {
      const double s = score(c, cfg);
      if (best < 0 || s > best_score) {
        best = c;
        best_score = s;
      }
    }
    return best;
  }

  /// [C] the most visited child: max n, ties broken by max q (first on full ties). -1 for a leaf.
  [[nodiscard]] int most_visited(int parent) const {
    int best = -1;
    for (int c : at(parent).children) {
      if (best < 0) {
        best = c;
        continue;
      }
      const node& x = at(c);
      const node& b = at(best);
      if (x.n > b.n || (x.n == b.n && x.q > b.q)) best = c;
    }
    return best;
  }

  /// [C] backup of value v from `leaf` to the root. `path_embeddings[i]` is the embedding of the
  /// simulated text from the start of the i-th node on the path (leaf first, root excluded) to the
  /// end of the rollout; empty vectors skip the embedding and similarity steps.
  void backup(int leaf, double v, std::span<const std::vector<float>> path_embeddings, const config& cfg) {
    double g = cfg.backup_discount * v;
    std::size_t level = 0;
    for (int x = leaf; x >= 0; x = is_root(x) ? -1 : at(x).parent, ++level) {
      node& nd = at(x);
      nd.n += 1.0;
      nd.fn += 1;
      if (!is_root(x)) {
        if (level < path_embeddings.size() && !path_embeddings[level].empty()) {
          detail::update_embedding_mean(nd.embedding, path_embeddings[level], nd.fn);
          if (cfg.similarity_update) {
            for (int s : at(nd.parent).children) {
              if (s == x) continue;
              node& sib = at(s);
              const double sim = sib.embedding.empty() ? 0.0 : cosine_similarity(nd.embedding, sib.embedding);
              const auto m = detail::similarity_update({sib.n, sib.q}, sim, g, cfg.similarity_gamma,
                                                       cfg.similarity_threshold);
              sib.n = m.n;
              sib.q = m.q;
            }
          }
        }
      }
      nd.q = detail::updated_value(nd.q, nd.n, g);
      if (!is_root(x)) {
        min_q_ = std::min(min_q_, nd.q);
        max_q_ = std::max(max_q_, nd.q);
      }
      g = cfg.backup_discount * g;
    }
  }

  /// [C] CHECK_ADD: at L = 1 adds the next-best stored token itself (returns added_token or none);
  /// at L > 1 returns `sample` so the caller samples more candidates and calls add_sampled().
  addition check_add(int x, const config& cfg) {
    node& nd = at(x);
    if (!cfg.dynamic_addition || nd.children.empty()) return addition::none;
    std::vector<std::vector<float>> embs;
    bool all = true;
    double max_child_q = -std::numeric_limits<double>::infinity();
    for (int c : nd.children) {
      if (at(c).embedding.empty()) all = false;
      else embs.push_back(at(c).embedding);
      max_child_q = std::max(max_child_q, at(c).q);
    }
    const int len = static_cast<int>(at(nd.children.front()).tokens.size());
    if (!all || nd.children.size() >= static_cast<std::size_t>(cfg.max_children)) return addition::none;
    const double var = detail::embedding_variance_norm(embs);
    if (!detail::should_add_child(nd.children.size(), all, var, len, max_child_q, cfg.max_children,
                                  cfg.variance_factor, cfg.addition_value_threshold))
      return addition::none;
    if (len > 1) return addition::sample;
    // L = 1: the top-(k + 1) stored alternatives, renormalized, root-mixed; add those not present.
    const std::size_t k = std::min(nd.children.size() + 1, nd.stored.size());
    std::vector<double> p;
    for (std::size_t i = 0; i < k; ++i) p.push_back(nd.stored[i].p);
    detail::normalize(p);
    if (is_root(x)) p = detail::mix_root_prior(p, cfg.root_prior_weight);
    bool added = false;
    for (std::size_t i = 0; i < k; ++i) added = add_child(x, nd.stored[i].tokens, p[i]) >= 0 || added;
    return added ? addition::added_token : addition::none;
  }

  /// [C] ADD at L > 1: prepends the new candidates to the stored list, takes the first
  /// |children| + 1, renormalizes (root-mixed) and adds those not present. Returns how many were added.
  int add_sampled(int x, std::vector<candidate> fresh, const config& cfg) {
    node& nd = at(x);
    fresh.insert(fresh.end(), nd.stored.begin(), nd.stored.end());
    nd.stored = std::move(fresh);
    const std::size_t k = std::min(at(x).children.size() + 1, at(x).stored.size());
    std::vector<double> p;
    for (std::size_t i = 0; i < k; ++i) p.push_back(at(x).stored[i].p);
    detail::normalize(p);
    if (is_root(x)) p = detail::mix_root_prior(p, cfg.root_prior_weight);
    int added = 0;
    for (std::size_t i = 0; i < k; ++i) added += add_child(x, at(x).stored[i].tokens, p[i]) >= 0 ? 1 : 0;
    return added;
  }

  /// [C] commits child `c`: it becomes the root (keeping minQ/maxQ) and its children's priors are
  /// mixed with uniform. Without subtree reuse the new root forgets its children and visits.
  void commit(int c, const config& cfg) {
    root_ = c;
    node& r = at(c);
    if (!cfg.reuse_subtree) {
      r.children.clear();
      r.n = 0;
      r.fn = 0;
      r.q = 0;
      r.expanded = false;
      r.stored.clear();
      return;
    }
    std::vector<double> p;
    for (int ch : r.children) p.push_back(at(ch).prior);
    p = detail::mix_root_prior(p, cfg.root_prior_weight);
    for (std::size_t i = 0; i < r.children.size(); ++i) at(r.children[i]).prior = p[i];
  }

  /// The subtree under `x` as JSON (tokens, prior, n, fn, q, children).
  [[nodiscard]] nlohmann::json to_json(int x, int max_depth = 64) const {
    const node& nd = at(x);
    nlohmann::json j;
    j["text"] = text_of(nd.tokens);
    j["prior"] = nd.prior;
    j["n"] = nd.n;
    j["fn"] = nd.fn;
    j["q"] = nd.q;
    j["path"] = nd.path;
    if (nd.terminal) j["eos"] = true;
    nlohmann::json kids = nlohmann::json::array();
    if (max_depth > 0)
      for (int c : nd.children) kids.push_back(to_json(c, max_depth - 1));
    j["children"] = std::move(kids);
    return j;
  }

 private:
  std::vector<node> nodes_;
  int root_ = 0;
  double min_q_ = -1.0;  ///< [C] root.minQ starts at -1
  double max_q_ = 1.0;   ///< [C] root.maxQ starts at +1
};

}  // namespace rain
SELFALIGN_END_NAMESPACE
