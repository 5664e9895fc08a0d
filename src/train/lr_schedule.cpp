#include "revode/train/lr_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "revode/core/error.hpp"

namespace revode {

std::string_view schedule_name(ScheduleKind kind) {
  return kind == ScheduleKind::constant ? "constant" : "cosine";
}

ScheduleKind parse_schedule(std::string_view name) {
  if (name == "constant") return ScheduleKind::constant;
  if (name == "cosine") return ScheduleKind::cosine;
  throw Error(fmt::format("unknown learning-rate schedule '{}' (known: constant, cosine)", name));
}

double LrSchedule::at(Index iteration) const {
  if (kind == ScheduleKind::constant) return lr;
  const double progress = double(std::min(iteration, iterations)) / double(iterations);
  return final_lr + 0.5 * (lr - final_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

void validate(const LrSchedule& s) {
  require(s.lr > 0 && std::isfinite(s.lr), "learning rate lr = {}; required: finite and > 0",
          s.lr);
  require(s.final_lr >= 0 && s.final_lr <= s.lr,
          "final_lr = {}; required: 0 <= final_lr <= lr = {}", s.final_lr, s.lr);
  require(s.iterations >= 1, "schedule iterations = {}; required: >= 1", s.iterations);
}

}  // namespace revode
