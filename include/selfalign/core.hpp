// selfalign: umbrella header without HTTP — everything but backends/
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/any.hpp>
#include <selfalign/batch.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/config.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/events.hpp>
#include <selfalign/json.hpp>
#include <selfalign/result.hpp>
#include <selfalign/seed.hpp>
#include <selfalign/types.hpp>
#include <selfalign/wrappers/cached.hpp>
#include <selfalign/wrappers/metered.hpp>
#include <selfalign/wrappers/observed.hpp>
