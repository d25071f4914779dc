// selfalign: the aligned prompt — optimized system prompt + top-k in-context examples + the query,
// in chat or raw-text form — and example retrieval by embedding similarity
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/types.hpp>

#include <algorithm>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace drpo {

/// An in-context example: a query and an ideal answer (stored without the <START>/<END> wrapping).
struct icl_example {
  std::string query;
  std::string answer;
  friend bool operator==(const icl_example&, const icl_example&) = default;
};

/// How the aligned prompt is sent.
enum class prompt_form {
  chat,      ///< system message (instructions + examples) and user message (query); the server applies its template
  raw_text,  ///< one raw text (no chat template), as the original optimizes open models
};

/// How the aligned prompt is laid out.
struct layout_options {
  prompt_form form = prompt_form::chat;  ///< [ours] the same form when optimizing and deploying
  /// [C] the original's header spacing ("# Query:" for the first example, "#Query:"/"#Answer:" after).
  bool original_spacing = false;
  bool wrap_answers = true;  ///< [C] example answers appear as "<START>\n...\n<END>"
  friend bool operator==(const layout_options&, const layout_options&) = default;
};

namespace detail {
inline std::string wrap_answer(std::string_view a, bool wrap) {
  if (!wrap) return std::string(a);
  return "<START>\n" + std::string(a) + "\n<END>";
}
}  // namespace detail

/// Builds the prompt the base model sees: "# instructions", the system prompt, the examples, then
/// the query ending in "# Answer:\n<START>" (generation stops at "<END>").
[[nodiscard]] inline prompt render_aligned_prompt(std::string_view system_prompt, std::span<const icl_example> examples,
                                                  std::string_view query, const layout_options& layout = {}) {
  std::string system = "# instructions\n\n" + std::string(system_prompt) + "\n\n";
  if (!examples.empty()) {
    std::string block;
    for (std::size_t i = 0; i < examples.size(); ++i) {
      if (layout.original_spacing) {
        block += i == 0 ? "# Query:\n" : "\n\n#Query:\n";
        block += examples[i].query + "\n\n#Answer:\n" + detail::wrap_answer(examples[i].answer, layout.wrap_answers);
      } else {
        if (i > 0) block += "\n\n";
        block += "# Query:\n" + examples[i].query + "\n\n# Answer:\n" + detail::wrap_answer(examples[i].answer, layout.wrap_answers);
      }
    }
    system += block + "\n\n";
  }
  std::string user = "# Query:\n" + std::string(query) + "\n\n# Answer:\n<START>";
  if (layout.form == prompt_form::raw_text) return prompt::text(system + user);
  return prompt::chat({message::system(std::move(system)), message::user(std::move(user))});
}

/// The deployment layout of the original code (auto_model.py): chat messages, the examples
/// appended to the system prompt as "\n\n#Query:\n...\n\n#Answer:\n...".
[[nodiscard]] inline prompt render_original_inference_prompt(std::string_view system_prompt,
                                                             std::span<const icl_example> examples, std::string_view query,
                                                             bool wrap_answers = true) {
  std::string system(system_prompt);
  for (const auto& e : examples) system += "\n\n#Query:\n" + e.query + "\n\n#Answer:\n" + detail::wrap_answer(e.answer, wrap_answers);
  return prompt::chat({message::system(std::move(system)), message::user("# Query:\n" + std::string(query) + "\n\n# Answer:\n<START>")});
}

/// The examples with their query embeddings, for retrieval by cosine similarity.
class example_index {
 public:
  example_index() = default;

  /// Embeds the example queries in one call.
  template <Embedder E>
  [[nodiscard]] static result<example_index> build(std::vector<icl_example> examples, E& embedder, std::string model = {}) {
    example_index idx;
    idx.examples_ = std::move(examples);
    idx.model_ = std::move(model);
    if (idx.examples_.empty()) return idx;
    embedding_request req;
    req.model = idx.model_;
    for (const auto& e : idx.examples_) req.texts.push_back(e.query);
    auto out = selfalign::detail::call_embed(embedder, req);
    if (!out) return unexpected(out.error());
    if (out->vectors.size() != idx.examples_.size())
      return fail(errc::bad_response, "drpo::example_index: the embedder returned a different number of vectors than texts");
    idx.vectors_ = std::move(out->vectors);
    return idx;
  }

  /// The indices of the k examples most similar to `query_vector` (ties: lower index first).
  [[nodiscard]] std::vector<std::size_t> top_k(std::span<const float> query_vector, std::size_t k) const {
    std::vector<std::size_t> order(examples_.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::vector<double> sim(examples_.size());
    for (std::size_t i = 0; i < examples_.size(); ++i) sim[i] = cosine_similarity(vectors_[i], query_vector);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return sim[a] > sim[b]; });
    if (order.size() > k) order.resize(k);
    return order;
  }

  /// The k examples most similar to each query (one embedding call for all queries).
  template <Embedder E>
  [[nodiscard]] result<std::vector<std::vector<icl_example>>> retrieve(std::span<const std::string> queries, std::size_t k,
                                                                       E& embedder) const {
    std::vector<std::vector<icl_example>> out(queries.size());
    if (examples_.empty() || k == 0 || queries.empty()) return out;
    embedding_request req;
    req.model = model_;
    req.texts.assign(queries.begin(), queries.end());
    auto emb = selfalign::detail::call_embed(embedder, req);
    if (!emb) return unexpected(emb.error());
    if (emb->vectors.size() != queries.size())
      return fail(errc::bad_response, "drpo::example_index: the embedder returned a different number of vectors than texts");
    for (std::size_t q = 0; q < queries.size(); ++q)
      for (std::size_t i : top_k(emb->vectors[q], k)) out[q].push_back(examples_[i]);
    return out;
  }

  [[nodiscard]] const std::vector<icl_example>& examples() const noexcept { return examples_; }

 private:
  std::vector<icl_example> examples_;
  std::vector<std::vector<float>> vectors_;
  std::string model_;
};

/// The aligned prompt for a new query: `system_prompt` plus the `k` examples most similar to the
/// query, in `layout`. Use the same layout and k as the optimization (drpo::deployment_layout
/// gives them from a config) so the model sees at deployment what it was optimized for.
template <Embedder E>
[[nodiscard]] result<prompt> aligned_prompt(std::string_view system_prompt, const example_index& index, std::string_view query,
                                            std::size_t k, E& embedder, const layout_options& layout = {}) {
  const std::string q(query);
  auto ex = index.retrieve(std::span<const std::string>(&q, 1), k, embedder);
  if (!ex) return unexpected(ex.error());
  return render_aligned_prompt(system_prompt, ex->front(), query, layout);
}

}  // namespace drpo
SELFALIGN_END_NAMESPACE
