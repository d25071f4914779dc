// selfalign: the AspectSelector concept — which aspects of a response matter for a query — its
// requests and answers, and judges::select_batch, through which every caller asks any selector
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/calls.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>
#include <selfalign/detail/format.hpp>

#include <fmt/format.h>

#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace judges {

/// Asks which aspects matter for one query.
struct selection_request {
  std::string query;
  int min_aspects = 2;   ///< DRPO prompt stage: 2..5; ICL stage: 3..6 [C]
  int max_aspects = 5;
  std::string guidance;  ///< extra instructions for the selector (e.g. DRPO's ICL-stage critic note)
  std::optional<std::uint64_t> seed;
  friend bool operator==(const selection_request&, const selection_request&) = default;
};

/// The aspects chosen for a query and why. On a parse failure `status` is failed and `aspects`
/// holds the configured fallback aspects (so scoring can go on), which the report shows.
struct aspect_selection {
  std::vector<std::string> aspects;
  std::string reasoning;
  std::string analysis;  ///< the selector's query analysis, as compact JSON text
  parse_status status = parse_status::ok;
  int attempts = 0;      ///< selector calls made (0 when answered from the per-query memo)
  std::string raw;       ///< the last raw output
  selfalign::usage usage;
  friend bool operator==(const aspect_selection&, const aspect_selection&) = default;
};

/// Something that selects the aspects that matter for a query.
///
/// Requirements, for `s` an lvalue of S, either form (or both):
/// - single: `s.select(request)` with a `const selection_request&` returns something convertible
///   to `result<aspect_selection>`;
/// - batch: `s.select_batch(requests, options)` with a `std::span<const selection_request>` and a
///   `const batch_options&` returns something convertible to `std::vector<result<aspect_selection>>`,
///   one per request, in order.
/// Callers go through `judges::select_batch(s, requests, options)`, which uses the batch form when
/// there is one and otherwise calls `select` on the bounded executor (never more calls at once than
/// the selector accepts: one unless it declares max_concurrent_calls() or capabilities()).
template <class S>
concept AspectSelector = std::move_constructible<S> &&
    (requires(S& s, const selection_request& request) {
      { s.select(request) } -> std::convertible_to<result<aspect_selection>>;
    } || requires(S& s, std::span<const selection_request> requests, const batch_options& options) {
      { s.select_batch(requests, options) } -> std::convertible_to<std::vector<result<aspect_selection>>>;
    });

namespace detail {
struct select_batch_fn {
  template <AspectSelector S>
  std::vector<result<aspect_selection>> operator()(S& s, std::span<const selection_request> requests,
                                                   const batch_options& options = {}) const {
    if constexpr (requires { { s.select_batch(requests, options) } -> std::convertible_to<std::vector<result<aspect_selection>>>; }) {
      std::vector<result<aspect_selection>> out =
          selfalign::detail::with_call_slot(s, [&] { return s.select_batch(requests, options); });
      if (out.size() != requests.size()) {
        const auto why = selfalign::detail::format_text("{} answered a batch of {} selection requests with {} results",
                                     selfalign::detail::type_name<S>(), requests.size(), out.size());
        out.assign(requests.size(), fail(errc::unsupported, why));
      }
      return out;
    } else {
      return selfalign::detail::run_batch<aspect_selection>(
          requests, selfalign::detail::width_for(s, options), options, [&s](const selection_request& r) {
            return selfalign::detail::with_call_slot(s, [&] { return result<aspect_selection>(s.select(r)); });
          });
    }
  }
};
}  // namespace detail

/// select_batch(s, requests, options): one aspect selection per request, in request order, from
/// any AspectSelector (its batch form, or its single form on the bounded executor; cancellation
/// through options.stop). A batch member that answers with the wrong count gives errc::unsupported
/// for every request, naming the selector's type.
inline constexpr detail::select_batch_fn select_batch{};

}  // namespace judges
SELFALIGN_END_NAMESPACE
