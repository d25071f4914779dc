// selfalign: definitions for <selfalign/events.hpp> (events that wrappers and algorithms report to an observer)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/events.hpp>

SELFALIGN_BEGIN_NAMESPACE

SELFALIGN_DECL void emit_event(const observer& on_event, std::string_view source, event_kind kind, std::string message,
                       std::map<std::string, double> values) {
  if (!on_event) return;
  event e;
  e.kind = kind;
  e.source = std::string(source);
  e.message = std::move(message);
  e.values = std::move(values);
  on_event(e);
}

SELFALIGN_END_NAMESPACE
