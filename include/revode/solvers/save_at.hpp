/// What a solve saves: the state at given times, or at every step endpoint.
#pragma once

#include <vector>

#include "revode/core/types.hpp"

namespace revode {

/// Save times are strictly monotone in the direction of integration and lie in [t0, t1].
/// `steps`: save at t0 and at every accepted step endpoint (fixed or adaptive) instead of `ts`.
/// `dense`: reach save times strictly inside a step through dense output (cubic Hermite
/// interpolation on y and f at both ends of the step, order 3) instead of clipping steps to
/// land exactly on them.
struct SaveAt {
  std::vector<double> ts;
  bool steps = false;
  bool dense = false;

  static SaveAt final_time(double t1) { return SaveAt{{t1}}; }
  static SaveAt every_step() { return SaveAt{{}, true}; }
  /// K equally spaced times from t0 to t1, both included (K ≥ 2; K = 1 gives t1).
  static SaveAt linspace(double t0, double t1, Index count);
};

/// Throws revode::Error if the times are not finite, not strictly monotone in the direction
/// t0 → t1, or outside [t0, t1].
void validate(const SaveAt& save_at, double t0, double t1);

}  // namespace revode
