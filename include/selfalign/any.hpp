// selfalign: any_generator, any_judge, any_embedder — type erasure so a backend can be chosen at
// run time; each models the concept it erases
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/calls.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>

#include <cassert>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

namespace detail {

// The held object if the erased model holds a T, else nullptr (as std::any_cast): one rule for
// the three erasers.
template <template <class> class Model, class T, class Iface>
[[nodiscard]] T* erased_target(Iface* impl) noexcept {
  return dynamic_cast<Model<T>*>(impl) ? static_cast<T*>(impl->target()) : nullptr;
}

struct generator_iface {
  virtual ~generator_iface() = default;
  virtual result<generation> generate(const generation_request&) = 0;
  virtual std::vector<result<generation>> generate_batch(std::span<const generation_request>, const batch_options&) = 0;
  virtual std::vector<result<generation>> generate_multi(std::span<const generation_request>) = 0;
  virtual result<scoring> score(const scoring_request&) = 0;
  virtual std::vector<result<scoring>> score_batch(std::span<const scoring_request>, const batch_options&) = 0;
  virtual result<std::vector<token_id>> tokenize(std::string_view, bool) = 0;
  virtual result<std::string> detokenize(std::span<const token_id>) = 0;
  virtual selfalign::capabilities capabilities() = 0;
  virtual void* target() noexcept = 0;
};

template <class G>
struct generator_model final : generator_iface {
  G g;
  template <class U>
  explicit generator_model(U&& inner) : g(std::forward<U>(inner)) {}
  result<generation> generate(const generation_request& r) override { return call_generate(g, r); }
  std::vector<result<generation>> generate_batch(std::span<const generation_request> rs, const batch_options& o) override {
    return selfalign::generate_batch(g, rs, o);
  }
  // One request for all the prompts when G can (generate_multi), else separate requests.
  std::vector<result<generation>> generate_multi(std::span<const generation_request> rs) override {
    return selfalign::generate_multi(g, rs, batch_options{rs.size(), {}});
  }
  result<scoring> score(const scoring_request& r) override {
    if constexpr (ScoringGenerator<G>) {
      return call_score(g, r);
    } else {
      return fail(errc::unsupported, "this generator cannot score continuations (it has no score member)");
    }
  }
  std::vector<result<scoring>> score_batch(std::span<const scoring_request> rs, const batch_options& o) override {
    if constexpr (ScoringGenerator<G>) {
      return selfalign::score_batch(g, rs, o);
    } else {
      return std::vector<result<scoring>>(rs.size(), result<scoring>(fail(errc::unsupported,
          "this generator cannot score continuations (it has no score member)")));
    }
  }
  result<std::vector<token_id>> tokenize(std::string_view text, bool add_special) override {
    if constexpr (Tokenizer<G>) {
      return call_tokenize(g, text, add_special);
    } else {
      return fail(errc::unsupported, "this generator has no tokenizer");
    }
  }
  result<std::string> detokenize(std::span<const token_id> ids) override {
    if constexpr (Tokenizer<G>) {
      return call_detokenize(g, ids);
    } else {
      return fail(errc::unsupported, "this generator has no tokenizer");
    }
  }
  selfalign::capabilities capabilities() override { return capabilities_of(g); }
  void* target() noexcept override { return &g; }
};

}  // namespace detail

/// Holds any Generator and is one itself (also a ScoringGenerator and a Tokenizer: the calls a
/// held generator lacks return errc::unsupported, and capabilities() says so). Move-only.
/// Batches forward to the held generator's own batch path.
class any_generator {
 public:
  using selfalign_forwards_calls = void;  // the held model's call limit applies
  template <class G>
    requires(!std::is_same_v<std::remove_cvref_t<G>, any_generator> && detail::has_generate<std::remove_cvref_t<G>>)
  any_generator(G&& g)  // NOLINT: implicit, as std::function
      : impl_(std::make_unique<detail::generator_model<std::remove_cvref_t<G>>>(std::forward<G>(g))) {
    static_assert(Generator<std::remove_cvref_t<G>>, "any_generator holds Generators (move constructible, with generate)");
  }
  any_generator(any_generator&&) noexcept = default;
  any_generator& operator=(any_generator&&) noexcept = default;
  any_generator(const any_generator&) = delete;
  any_generator& operator=(const any_generator&) = delete;

  [[nodiscard]] result<generation> generate(const generation_request& r) { return impl()->generate(r); }
  [[nodiscard]] std::vector<result<generation>> generate_batch(std::span<const generation_request> rs,
                                                               const batch_options& o = {}) {
    return impl()->generate_batch(rs, o);
  }
  /// Several prompts in one request when the held generator can (MultiPromptGenerator and its
  /// capabilities().max_prompts), else separate requests with the same answers.
  [[nodiscard]] result<std::vector<generation>> generate_multi(std::span<const generation_request> rs) {
    std::vector<generation> out;
    for (auto& a : impl()->generate_multi(rs)) {
      if (!a) return unexpected(std::move(a).error());
      out.push_back(std::move(*a));
    }
    return out;
  }
  [[nodiscard]] result<scoring> score(const scoring_request& r) { return impl()->score(r); }
  [[nodiscard]] std::vector<result<scoring>> score_batch(std::span<const scoring_request> rs,
                                                         const batch_options& o = {}) {
    return impl()->score_batch(rs, o);
  }
  [[nodiscard]] result<std::vector<token_id>> tokenize(std::string_view text, bool add_special) {
    return impl()->tokenize(text, add_special);
  }
  [[nodiscard]] result<std::string> detokenize(std::span<const token_id> ids) { return impl()->detokenize(ids); }
  [[nodiscard]] selfalign::capabilities capabilities() const { return impl()->capabilities(); }

  /// The held generator if it is a G, else nullptr (as std::any_cast).
  template <class G>
  [[nodiscard]] G* target() noexcept {
    if constexpr (Generator<G>)
      return detail::erased_target<detail::generator_model, G>(impl());
    else
      return nullptr;  // a type this eraser cannot hold (naming its model would not compile)
  }

 private:
  // A moved-from eraser holds nothing: calling it is a bug, caught here in debug builds.
  [[nodiscard]] detail::generator_iface* impl() const noexcept {
    assert(impl_ && "a moved-from selfalign eraser was called");
    return impl_.get();
  }
  std::unique_ptr<detail::generator_iface> impl_;
};

namespace detail {
struct judge_iface {
  virtual ~judge_iface() = default;
  virtual result<judgement> judge(const judge_request&) = 0;
  virtual std::vector<result<judgement>> judge_batch(std::span<const judge_request>, const batch_options&) = 0;
  virtual result<void> prepare() = 0;
  virtual selfalign::capabilities capabilities() = 0;
  virtual void* target() noexcept = 0;
};
template <class J>
struct judge_model final : judge_iface {
  J j;
  template <class U>
  explicit judge_model(U&& inner) : j(std::forward<U>(inner)) {}
  result<judgement> judge(const judge_request& r) override { return call_judge(j, r); }
  std::vector<result<judgement>> judge_batch(std::span<const judge_request> rs, const batch_options& o) override {
    return selfalign::judge_batch(j, rs, o);
  }
  result<void> prepare() override {
    if constexpr (PreparableJudge<J>)
      return j.prepare();
    else
      return {};  // nothing to check
  }
  selfalign::capabilities capabilities() override { return capabilities_of(j); }
  void* target() noexcept override { return &j; }
};

struct embedder_iface {
  virtual ~embedder_iface() = default;
  virtual result<embeddings> embed(const embedding_request&) = 0;
  virtual std::vector<result<embeddings>> embed_batch(std::span<const embedding_request>, const batch_options&) = 0;
  virtual selfalign::capabilities capabilities() = 0;
  virtual void* target() noexcept = 0;
};
template <class E>
struct embedder_model final : embedder_iface {
  E e;
  template <class U>
  explicit embedder_model(U&& inner) : e(std::forward<U>(inner)) {}
  result<embeddings> embed(const embedding_request& r) override { return call_embed(e, r); }
  std::vector<result<embeddings>> embed_batch(std::span<const embedding_request> rs, const batch_options& o) override {
    return selfalign::embed_batch(e, rs, o);
  }
  selfalign::capabilities capabilities() override { return capabilities_of(e); }
  void* target() noexcept override { return &e; }
};
}  // namespace detail

/// Holds any Judge and is one itself (also a PreparableJudge: success for a held judge without
/// prepare()). Move-only. Batches forward to the held judge's own batch path.
class any_judge {
 public:
  using selfalign_forwards_calls = void;  // the held model's call limit applies
  template <class J>
    requires(!std::is_same_v<std::remove_cvref_t<J>, any_judge> && detail::has_judge<std::remove_cvref_t<J>>)
  any_judge(J&& j)  // NOLINT
      : impl_(std::make_unique<detail::judge_model<std::remove_cvref_t<J>>>(std::forward<J>(j))) {
    static_assert(Judge<std::remove_cvref_t<J>>, "any_judge holds Judges (move constructible, with judge)");
  }
  any_judge(any_judge&&) noexcept = default;
  any_judge& operator=(any_judge&&) noexcept = default;
  any_judge(const any_judge&) = delete;
  any_judge& operator=(const any_judge&) = delete;

  [[nodiscard]] result<judgement> judge(const judge_request& r) { return impl()->judge(r); }
  [[nodiscard]] std::vector<result<judgement>> judge_batch(std::span<const judge_request> rs,
                                                           const batch_options& o = {}) {
    return impl()->judge_batch(rs, o);
  }
  /// The held judge's prepare() (PreparableJudge), or success when it has none.
  [[nodiscard]] result<void> prepare() { return impl()->prepare(); }
  [[nodiscard]] selfalign::capabilities capabilities() const { return impl()->capabilities(); }

  /// The held judge if it is a J, else nullptr (as std::any_cast).
  template <class J>
  [[nodiscard]] J* target() noexcept {
    if constexpr (Judge<J>)
      return detail::erased_target<detail::judge_model, J>(impl());
    else
      return nullptr;  // a type this eraser cannot hold (naming its model would not compile)
  }

 private:
  // A moved-from eraser holds nothing: calling it is a bug, caught here in debug builds.
  [[nodiscard]] detail::judge_iface* impl() const noexcept {
    assert(impl_ && "a moved-from selfalign eraser was called");
    return impl_.get();
  }
  std::unique_ptr<detail::judge_iface> impl_;
};

/// Holds any Embedder and is one itself. Move-only. Batches forward to the held embedder's own
/// batch path.
class any_embedder {
 public:
  using selfalign_forwards_calls = void;  // the held model's call limit applies
  template <class E>
    requires(!std::is_same_v<std::remove_cvref_t<E>, any_embedder> && detail::has_embed<std::remove_cvref_t<E>>)
  any_embedder(E&& e)  // NOLINT
      : impl_(std::make_unique<detail::embedder_model<std::remove_cvref_t<E>>>(std::forward<E>(e))) {
    static_assert(Embedder<std::remove_cvref_t<E>>, "any_embedder holds Embedders (move constructible, with embed)");
  }
  any_embedder(any_embedder&&) noexcept = default;
  any_embedder& operator=(any_embedder&&) noexcept = default;
  any_embedder(const any_embedder&) = delete;
  any_embedder& operator=(const any_embedder&) = delete;

  [[nodiscard]] result<embeddings> embed(const embedding_request& r) { return impl()->embed(r); }
  [[nodiscard]] std::vector<result<embeddings>> embed_batch(std::span<const embedding_request> rs,
                                                            const batch_options& o = {}) {
    return impl()->embed_batch(rs, o);
  }
  [[nodiscard]] selfalign::capabilities capabilities() const { return impl()->capabilities(); }

  /// The held embedder if it is an E, else nullptr (as std::any_cast).
  template <class E>
  [[nodiscard]] E* target() noexcept {
    if constexpr (Embedder<E>)
      return detail::erased_target<detail::embedder_model, E>(impl());
    else
      return nullptr;  // a type this eraser cannot hold (naming its model would not compile)
  }

 private:
  // A moved-from eraser holds nothing: calling it is a bug, caught here in debug builds.
  [[nodiscard]] detail::embedder_iface* impl() const noexcept {
    assert(impl_ && "a moved-from selfalign eraser was called");
    return impl_.get();
  }
  std::unique_ptr<detail::embedder_iface> impl_;
};

static_assert(Generator<any_generator> && ScoringGenerator<any_generator> && Tokenizer<any_generator>);
static_assert(Judge<any_judge> && PreparableJudge<any_judge>);
static_assert(Embedder<any_embedder>);

SELFALIGN_END_NAMESPACE
