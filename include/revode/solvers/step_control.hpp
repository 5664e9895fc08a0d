/// How big a step is: a fixed grid, or adaptive steps from the embedded error estimate.
#pragma once

#include <variant>

#include "revode/core/types.hpp"
#include "revode/solvers/pid_controller.hpp"

namespace revode {

/// A uniform grid: `steps` equal steps from t0 to t1, or steps of `dt` with the last one
/// shortened to land on t1. Exactly one of the two is set (> 0).
struct FixedSteps {
  Index steps = 0;
  double dt = 0.0;
};

/// Adaptive steps: accept when the weighted RMS norm of the local error estimate,
///   sqrt(mean_i (err_i / (atol + rtol · max(|y0_i|, |y1_i|)))²) over every entry of the batch,
/// is ≤ 1; the PID controller proposes the next step. dt0 = 0 picks the first step
/// automatically (Hairer, Nørsett & Wanner I, §II.4).
struct AdaptiveSteps {
  double rtol = 1e-6;
  double atol = 1e-8;
  PidOptions pid{};
  double dt0 = 0.0;
  double dtmin = 0.0;       ///< smallest |step| allowed before step_size_underflow
  Index max_steps = 10000;  ///< accepted + rejected steps before max_steps_reached
  /// Error control on the first `norm_rows` rows of the state only (0: every row). The
  /// continuous adjoint's seminorm uses it to leave the parameter adjoint out of the norm.
  Index norm_rows = 0;
};

using StepControl = std::variant<FixedSteps, AdaptiveSteps>;

/// Throws revode::Error naming the bad option (rtol/atol ≤ 0, steps < 1 or > 1e15, ...).
void validate(const StepControl& control);

}  // namespace revode
