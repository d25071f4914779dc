// selfalign: the shared shape of the wrappers (cached, metered, observed): every call of the
// wrapped backend goes through one hook, whatever the operation
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/calls.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>

#include <fmt/format.h>

#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// Whether a wrapper hooks an aspect selector's select() (`hooks_select`) and a model's own batch
/// members (`hooks_batches`, through a `through_batch` member, see forwarding_wrapper). metered and
/// observed specialise both to true. cached does neither: an aspect selection has no cache key yet
/// (cache the selector's generator instead), and its lookups are per request, so a batch of a cached
/// backend runs the generic executor over the cached single calls. Traits rather than members of
/// the wrapper, because the wrapper is incomplete while this base is instantiated.
template <class W>
inline constexpr bool hooks_select = false;
template <class W>
inline constexpr bool hooks_batches = false;

// Whether a model has its own batch member for an operation (not the generic executor).
template <class M>
concept own_generate_batch = requires(M& m, std::span<const generation_request> r, const batch_options& o) { m.generate_batch(r, o); };
template <class M>
concept own_score_batch = requires(M& m, std::span<const scoring_request> r, const batch_options& o) { m.score_batch(r, o); };
template <class M>
concept own_judge_batch = requires(M& m, std::span<const judge_request> r, const batch_options& o) { m.judge_batch(r, o); };
template <class M>
concept own_embed_batch = requires(M& m, std::span<const embedding_request> r, const batch_options& o) { m.embed_batch(r, o); };

/// CRTP base: `Derived::through<T>(op, request, call)` sees every call, where `call()` invokes the
/// inner backend and returns result<T>. The wrapper models each concept its inner type models.
template <class Derived, class Inner>
class forwarding_wrapper {
 public:
  using selfalign_forwards_calls = void;  // the inner backend's call limit applies, not the wrapper's

  // A constrained template rather than `forwarding_wrapper(Inner)`: with Inner = any_generator,
  // the plain form lets a wrapper convert to its own Inner while the compiler is still deciding
  // whether the wrapper is move constructible, an endless recursion on Clang.
  template <class U>
    requires(!std::is_base_of_v<forwarding_wrapper, std::remove_cvref_t<U>> && std::is_constructible_v<Inner, U &&>)
  explicit forwarding_wrapper(U&& inner) : inner_(std::forward<U>(inner)) {}

  [[nodiscard]] result<generation> generate(const generation_request& r)
    requires Generator<Inner>
  {
    return self().template through<generation>("generate", r, [&] { return call_generate(inner_, r); });
  }
  [[nodiscard]] result<scoring> score(const scoring_request& r)
    requires ScoringGenerator<Inner>
  {
    return self().template through<scoring>("score", r, [&] { return call_score(inner_, r); });
  }
  [[nodiscard]] result<judgement> judge(const judge_request& r)
    requires Judge<Inner>
  {
    return self().template through<judgement>("judge", r, [&] { return call_judge(inner_, r); });
  }
  [[nodiscard]] result<embeddings> embed(const embedding_request& r)
    requires Embedder<Inner>
  {
    return self().template through<embeddings>("embed", r, [&] { return call_embed(inner_, r); });
  }
  // A model's own batch member (an HTTP backend's pool-aware batch, a judge that scores several
  // responses in one request) is kept under metered and observed: the whole batch goes through the
  // wrapper's through_batch, which sees every request of it. Without these members the batch CPOs
  // would run the wrapper's single calls on the generic executor and the inner batch path would be lost.
  [[nodiscard]] std::vector<result<generation>> generate_batch(std::span<const generation_request> rs, const batch_options& o = {})
    requires Generator<Inner> && hooks_batches<Derived> && own_generate_batch<Inner>
  {
    return self().template through_batch<generation>("generate", rs, o, [&](std::span<const generation_request> sub) {
      return selfalign::generate_batch(inner_, sub, o);
    });
  }
  [[nodiscard]] std::vector<result<scoring>> score_batch(std::span<const scoring_request> rs, const batch_options& o = {})
    requires ScoringGenerator<Inner> && hooks_batches<Derived> && own_score_batch<Inner>
  {
    return self().template through_batch<scoring>("score", rs, o, [&](std::span<const scoring_request> sub) {
      return selfalign::score_batch(inner_, sub, o);
    });
  }
  [[nodiscard]] std::vector<result<judgement>> judge_batch(std::span<const judge_request> rs, const batch_options& o = {})
    requires Judge<Inner> && hooks_batches<Derived> && own_judge_batch<Inner>
  {
    return self().template through_batch<judgement>("judge", rs, o, [&](std::span<const judge_request> sub) {
      return selfalign::judge_batch(inner_, sub, o);
    });
  }
  [[nodiscard]] std::vector<result<embeddings>> embed_batch(std::span<const embedding_request> rs, const batch_options& o = {})
    requires Embedder<Inner> && hooks_batches<Derived> && own_embed_batch<Inner>
  {
    return self().template through_batch<embeddings>("embed", rs, o, [&](std::span<const embedding_request> sub) {
      return selfalign::embed_batch(inner_, sub, o);
    });
  }
  // Several prompts in one request (MultiPromptGenerator), kept by every wrapper whose inner model
  // has it: the list goes through the wrapper's through_multi, which sees every prompt of it and
  // passes on (through the generate_multi CPO, so as one request where the inner model can) the
  // prompts it does not answer itself. The form with options answers one result per request (the
  // CPO prefers it); the concept's form fails as a whole when any prompt fails.
  [[nodiscard]] std::vector<result<generation>> generate_multi(std::span<const generation_request> rs, const batch_options& o)
    requires MultiPromptGenerator<Inner>
  {
    return self().template through_multi<generation>("generate", rs, o, [&](std::span<const generation_request> sub) {
      return selfalign::generate_multi(inner_, sub, o);
    });
  }
  [[nodiscard]] result<std::vector<generation>> generate_multi(std::span<const generation_request> rs)
    requires MultiPromptGenerator<Inner>
  {
    std::vector<generation> out;
    out.reserve(rs.size());
    for (auto& a : generate_multi(rs, batch_options{rs.size(), {}})) {
      if (!a) return unexpected(std::move(a).error());
      out.push_back(std::move(*a));
    }
    return out;
  }
  // A judge's one-time check (PreparableJudge) is the inner judge's own: forwarded as is, so that
  // wrapping a judge keeps its fail-fast check (RAIN's label check, for instance).
  [[nodiscard]] result<void> prepare()
    requires PreparableJudge<Inner>
  {
    return inner_.prepare();
  }
  // An aspect selector's select() (judges::AspectSelector), through the hook as "select", in the
  // wrappers that hook it. The request type is a template parameter so that this layer does not
  // depend on judges/. A selector with only the batch form is asked one request per call here;
  // judges::select_batch then runs the wrapper's select() on its bounded executor, so that the
  // hook sees every selection.
  // (`I` defaults to Inner: it makes the member lookups below dependent, so that a wrapper of a
  // type without select() still instantiates.)
  template <class R, class I = Inner>
    requires hooks_select<Derived> && requires(I& i, const R& r) { i.select(r); }
  [[nodiscard]] auto select(const R& r) -> decltype(std::declval<I&>().select(r)) {
    using answer = typename decltype(std::declval<I&>().select(r))::value_type;
    return self().template through<answer>("select", r, [&] { return inner_.select(r); });
  }
  template <class R, class I = Inner>
    requires hooks_select<Derived> && (!requires(I& i, const R& r) { i.select(r); }) &&
             requires(I& i, std::span<const R> rs, const batch_options& o) { i.select_batch(rs, o); }
  [[nodiscard]] auto select(const R& r) ->
      typename decltype(std::declval<I&>().select_batch(std::span<const R>{}, batch_options{}))::value_type {
    using one = typename decltype(std::declval<I&>().select_batch(std::span<const R>{}, batch_options{}))::value_type;
    return self().template through<typename one::value_type>("select", r, [&]() -> one {
      auto answers = inner_.select_batch(std::span<const R>(&r, 1), batch_options{1, {}});
      if (answers.size() != 1)
        return fail(errc::unsupported, fmt::format("{} answered a batch of 1 selection request with {} results",
                                                   type_name<std::remove_cvref_t<I>>(), answers.size()));
      return std::move(answers.front());
    });
  }
  // Tokenization is cheap and deterministic: forwarded unmetered and uncached.
  [[nodiscard]] result<std::vector<token_id>> tokenize(std::string_view text, bool add_special)
    requires Tokenizer<Inner>
  {
    return call_tokenize(inner_, text, add_special);
  }
  [[nodiscard]] result<std::string> detokenize(std::span<const token_id> ids)
    requires Tokenizer<Inner>
  {
    return call_detokenize(inner_, ids);
  }
  [[nodiscard]] selfalign::capabilities capabilities() { return capabilities_of(inner_); }

  [[nodiscard]] Inner& inner() noexcept { return inner_; }
  [[nodiscard]] const Inner& inner() const noexcept { return inner_; }

 protected:
  Inner inner_;

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

}  // namespace detail
SELFALIGN_END_NAMESPACE
