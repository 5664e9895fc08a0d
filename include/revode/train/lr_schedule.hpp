/// The learning rate as a function of the iteration: constant, or cosine decay (Loshchilov &
/// Hutter 2017, SGDR eq. (5) without restarts; optax's cosine_decay_schedule).
#pragma once

#include <string_view>

#include "revode/core/types.hpp"

namespace revode {

enum class ScheduleKind { constant, cosine };

/// "constant" or "cosine".
std::string_view schedule_name(ScheduleKind kind);
/// Parses schedule_name's output; throws revode::Error listing the valid names.
ScheduleKind parse_schedule(std::string_view name);

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::constant;
  double lr = 1e-2;        ///< the rate at iteration 0, > 0
  double final_lr = 0.0;   ///< cosine: the rate the decay approaches at `iterations`, in [0, lr]
  Index iterations = 1;    ///< cosine: length of the decay; later iterations stay at final_lr

  /// constant: lr. cosine: final_lr + ½ (lr − final_lr)(1 + cos(π · min(i, iterations) /
  /// iterations)) for iteration i = 0, 1, … (a pure function of i, so resuming is exact).
  double at(Index iteration) const;
};

/// Throws revode::Error naming the field, its value and the rule it breaks.
void validate(const LrSchedule& schedule);

}  // namespace revode
