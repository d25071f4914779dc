// selfalign: vector helpers and hashed_ngram_embedder, the dependency-free fallback Embedder
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// Cosine similarity of two vectors; 0 when either is all zeros or their sizes differ.
[[nodiscard]] inline double cosine_similarity(std::span<const float> a, std::span<const float> b) noexcept {
  if (a.size() != b.size() || a.empty()) return 0.0;
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return 0.0;
  return dot / (std::sqrt(na) * std::sqrt(nb));
}

/// Embeds text without a model: lower-cased character n-grams (n = 3 by default, with word
/// boundaries marked) and whole words, hashed into `dimensions` buckets, L2-normalized.
///
/// It measures surface overlap, not meaning. Thresholds calibrated for sentence encoders do not
/// carry over: identical texts score 1, texts sharing most words score roughly 0.6-0.9, unrelated
/// English texts roughly 0.1-0.3 (see docs/concepts.md#embedder for the measured figures). The
/// output is deterministic and identical on every platform.
class hashed_ngram_embedder {
 public:
  explicit hashed_ngram_embedder(std::size_t dimensions = 512, std::size_t ngram = 3)
      : dims_(dimensions == 0 ? 1 : dimensions), n_(ngram == 0 ? 1 : ngram) {}

  [[nodiscard]] std::vector<float> embed_one(std::string_view text) const {
    std::vector<float> v(dims_, 0.0f);
    std::string norm;
    norm.reserve(text.size() + 2);
    norm += ' ';
    for (char c : text) norm += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    norm += ' ';
    if (norm.size() >= n_)
      for (std::size_t i = 0; i + n_ <= norm.size(); ++i) v[hash(norm.substr(i, n_), 0) % dims_] += 1.0f;
    // Whole words weigh as much as their n-grams together, so word identity matters.
    std::size_t start = std::string::npos;
    for (std::size_t i = 0; i <= norm.size(); ++i) {
      const bool boundary = i == norm.size() || norm[i] == ' ' || norm[i] == '\n' || norm[i] == '\t';
      if (!boundary && start == std::string::npos) start = i;
      if (boundary && start != std::string::npos) {
        v[hash(std::string_view(norm).substr(start, i - start), 1) % dims_] += 2.0f;
        start = std::string::npos;
      }
    }
    double norm2 = 0;
    for (float x : v) norm2 += static_cast<double>(x) * x;
    if (norm2 > 0) {
      const auto inv = static_cast<float>(1.0 / std::sqrt(norm2));
      for (float& x : v) x *= inv;
    }
    return v;
  }

  [[nodiscard]] result<embeddings> embed(const embedding_request& req) const {
    embeddings out;
    out.vectors.reserve(req.texts.size());
    for (const auto& t : req.texts) out.vectors.push_back(embed_one(t));
    return out;
  }

  [[nodiscard]] std::size_t dimensions() const noexcept { return dims_; }

 private:
  static std::uint64_t hash(std::string_view s, std::uint64_t salt) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL ^ salt;
    for (char c : s) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
  }
  std::size_t dims_;
  std::size_t n_;
};

static_assert(Embedder<hashed_ngram_embedder>);

SELFALIGN_END_NAMESPACE
