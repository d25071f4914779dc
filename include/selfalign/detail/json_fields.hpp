// selfalign: field tables — a type's JSON fields listed once, written and read by two generic
// functions that keep the library's wire rules
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <concepts>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

// A type's JSON form as one table of (key, member) entries, e.g. in an impl/*.ipp:
//
//   inline constexpr auto usage_totals_fields = json_fields(
//       json_field("calls", &usage_totals::calls),
//       json_field("cost_usd", &usage_totals::cost));
//   void to_json(nlohmann::json& j, const usage_totals& u) { write_json_fields(j, u, usage_totals_fields); }
//   void from_json(const nlohmann::json& j, usage_totals& u) { read_json_fields(j, u, usage_totals_fields); }
//
// so that a new field is one new line. The rules, the same as every hand-written pair had:
// - writing: every key is written (an empty optional as null), unless the entry is
//   omit_when_default() (left out while the member is false, 0, "", an empty container, nullopt
//   or null) or written_if(pred) (left out while pred(object) is false);
// - reading: an absent key, or null, leaves the member as it is (its default in a fresh object);
//   a value of the wrong type throws nlohmann's type error from get_to/get, unchanged (callers
//   such as parse_json_as turn it into errc::bad_response); keys the table does not know are
//   ignored; a JSON value that is not an object reads as no keys at all;
// - also_read(old): the member is read from `old` when `key` is absent or null (a renamed key);
// - null_unless_finite(): a NaN or infinite floating-point member is written as null (and null,
//   read back, leaves the member's default, e.g. NaN).
// What does not fit a table (a value written in another shape, a key derived from several
// members) stays hand-written beside it, in the same to_json/from_json.

template <class T>
struct is_std_optional : std::false_type {};
template <class T>
struct is_std_optional<std::optional<T>> : std::true_type {};

/// The members omit_when_default() can leave out: a number, bool or enum (at its zero value),
/// a string or container (empty), a JSON value (null); an optional is handled on its own.
template <class M>
concept has_default_test = std::is_arithmetic_v<M> || std::is_enum_v<M> || std::same_as<M, nlohmann::json> ||
                           requires(const M& v) {
                             { v.empty() } -> std::convertible_to<bool>;
                           };

template <class M>
[[nodiscard]] bool is_default_value(const M& v) {
  if constexpr (std::same_as<M, nlohmann::json>) return v.is_null();  // an empty object is still written
  else if constexpr (std::is_arithmetic_v<M> || std::is_enum_v<M>) return v == M{};
  else return v.empty();
}

/// One entry of a field table: the JSON key of member `member` of `T`.
template <class T, class M>
struct json_field_entry {
  using object_type = T;
  using member_type = M;

  std::string_view key;
  M T::*member;
  std::string_view old_key{};               ///< also read under this key (empty: none)
  bool omit_default = false;                ///< not written while the member is empty, 0, false or null
  bool null_nonfinite = false;              ///< a floating-point member that is not finite is written as null
  bool (*write_if)(const T&) = nullptr;     ///< not written while this returns false (null: always)

  /// Reads the member from `old` too, when `key` is absent or null.
  [[nodiscard]] constexpr json_field_entry also_read(std::string_view old) const {
    json_field_entry e = *this;
    e.old_key = old;
    return e;
  }
  /// Leaves the key out while the member is false, 0, "", an empty container, nullopt or null.
  [[nodiscard]] constexpr json_field_entry omit_when_default() const
    requires(has_default_test<M> || is_std_optional<M>::value)
  {
    json_field_entry e = *this;
    e.omit_default = true;
    return e;
  }
  /// Writes null while the (floating-point) member is NaN or infinite; reading null then keeps
  /// the default, so give the member a non-finite default (NaN) for a faithful round trip.
  [[nodiscard]] constexpr json_field_entry null_unless_finite() const {
    static_assert(std::is_floating_point_v<M>, "null_unless_finite() is for floating-point members");
    json_field_entry e = *this;
    e.null_nonfinite = true;
    return e;
  }
  /// Writes the key only when `pred(object)` holds.
  [[nodiscard]] constexpr json_field_entry written_if(bool (*pred)(const T&)) const {
    json_field_entry e = *this;
    e.write_if = pred;
    return e;
  }
};

/// A table entry: `key` for `member` (see json_field_entry for the options).
template <class T, class M>
[[nodiscard]] constexpr json_field_entry<T, M> json_field(std::string_view key, M T::*member) {
  return json_field_entry<T, M>{key, member};
}

// `Object` is T or a class derived from it (a member of a base class names the base as its T).
template <class Object, class T, class M>
void write_json_field(nlohmann::json& j, const Object& object, const json_field_entry<T, M>& f) {
  if (f.write_if && !f.write_if(object)) return;
  const M& value = object.*(f.member);
  if constexpr (std::is_floating_point_v<M>) {
    if (f.null_nonfinite && !std::isfinite(value)) {
      j[std::string(f.key)] = nullptr;
      return;
    }
  }
  if constexpr (is_std_optional<M>::value) {
    if (!value.has_value()) {
      if (!f.omit_default) j[std::string(f.key)] = nullptr;
      return;
    }
    j[std::string(f.key)] = *value;
  } else {
    if constexpr (has_default_test<M>) {
      if (f.omit_default && is_default_value(value)) return;
    }
    j[std::string(f.key)] = value;
  }
}

template <class Object, class T, class M>
void read_json_field(const nlohmann::json& j, Object& object, const json_field_entry<T, M>& f) {
  auto it = j.find(f.key);
  if ((it == j.end() || it->is_null()) && !f.old_key.empty()) it = j.find(f.old_key);
  if (it == j.end() || it->is_null()) return;
  M& out = object.*(f.member);
  if constexpr (is_std_optional<M>::value) out = it->template get<typename M::value_type>();
  else it->get_to(out);
}

// A table: the entries in order, each in its own base class. Not a std::tuple: a tuple's
// constructor constraints, checked for every table's many element types, cost every translation
// unit seconds of compile time; this plain aggregate costs next to nothing.
template <std::size_t I, class F>
struct json_field_slot {
  F entry;
};
template <class Indices, class... F>
struct json_field_table;
template <std::size_t... I, class... F>
struct json_field_table<std::index_sequence<I...>, F...> : json_field_slot<I, F>... {
  template <class Fn>
  constexpr void for_each(Fn&& fn) const {
    (fn(static_cast<const json_field_slot<I, F>&>(*this).entry), ...);
  }
};

/// A field table: json_fields(json_field("key", &T::member), ...), in the order written.
template <class... F>
[[nodiscard]] constexpr json_field_table<std::index_sequence_for<F...>, F...> json_fields(F... entries) {
  return {{entries}...};
}

/// `j` becomes an object holding the fields of `table` (see the rules above).
template <class T, class Table>
void write_json_fields(nlohmann::json& j, const T& object, const Table& table) {
  j = nlohmann::json::object();
  table.for_each([&j, &object](const auto& f) { write_json_field(j, object, f); });
}

/// Reads the fields of `table` from `j` into `object` (see the rules above).
template <class T, class Table>
void read_json_fields(const nlohmann::json& j, T& object, const Table& table) {
  table.for_each([&j, &object](const auto& f) { read_json_field(j, object, f); });
}

/// Reads an enum written by its name (`to_string(value)`): `j` must be a string (else nlohmann's
/// type error) naming one of `values` (else nlohmann's other_error 501: `unknown <what> "<name>"`).
template <class E>
void read_enum_name(const nlohmann::json& j, E& out, std::initializer_list<E> values, std::string_view what) {
  const auto name = j.template get<std::string>();
  for (E v : values) {
    if (name == to_string(v)) {
      out = v;
      return;
    }
  }
  throw nlohmann::json::other_error::create(501, "unknown " + std::string(what) + " \"" + name + "\"", &j);
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
