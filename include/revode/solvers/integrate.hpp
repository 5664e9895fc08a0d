/// The one integration loop (STYLE.md §4.5): a stepper, a step control and a save-at, reporting
/// accepted steps and saved states to an observer. Gradient methods drive this loop and never
/// contain one of their own.
#pragma once

#include <vector>

#include "revode/core/stats.hpp"
#include "revode/core/vector_field.hpp"
#include "revode/solvers/save_at.hpp"
#include "revode/solvers/step_control.hpp"
#include "revode/solvers/stepper.hpp"

namespace revode {

/// One accepted step (n = 0, 1, ...): x0 at t0 to x1 at t1 with the stepper's tape.
template <class T>
struct StepRecord {
  Index n;
  double t0, t1;
  ConstBatchRef<T> x0, x1, tape;
};

/// One saved state y (state_dim × batch), k = 0, 1, ... in time order. `step` is the step
/// whose interval holds it (−1: the initial time). Endpoint saves have s = 1 (s = 0 for the
/// initial time); a dense save at s ∈ (0, 1) is y = h00 y0 + h10 Δ f0 + h01 y1 + h11 Δ f1
/// (cubic Hermite, Δ = t1 − t0 of the step, f0 = f(t0, y0), f1 = f(t1, y1)).
template <class T>
struct SaveRecord {
  Index k;
  double t;
  ConstBatchRef<T> y;
  Index step;
  double s;
};

template <class T>
class SolveObserver {
 public:
  virtual ~SolveObserver() = default;
  virtual void on_step(const StepRecord<T>& step) { (void)step; }
  virtual void on_save(const SaveRecord<T>& save) { (void)save; }
};

/// Hermite basis weights (h00, h10, h01, h11) at s ∈ [0, 1].
std::array<double, 4> hermite_weights(double s);

/// The dense output of SaveRecord at s ∈ [0, 1] of a step of length delta:
/// out = h00 y0 + h10 Δ f0 + h01 y1 + h11 Δ f1 (all state_dim × batch).
template <class T>
void hermite_interpolate(double s, double delta, const ConstBatchRef<T>& y0,
                         const ConstBatchRef<T>& f0, const ConstBatchRef<T>& y1,
                         const ConstBatchRef<T>& f1, BatchRef<T> out);

/// Integrates from (t0, y0) to t1. Validates every input first (shapes, finiteness, options,
/// save times) and throws revode::Error; throws SolveError when the solve cannot reach t1
/// (max_steps, step-size underflow, non-finite state), naming the time reached.
/// y0: state_dim × batch. Returns steps, rejections and nfe (stored_floats = 0).
template <class T>
SolveStats integrate(const VectorField<T>& f, const Stepper<T>& stepper, const StepControl& control,
                     const SaveAt& save_at, double t0, double t1,
                     const NonDeduced<ConstBatchRef<T>>& y0,
                     const NonDeduced<ConstVectorRef<T>>& theta, SolveObserver<T>& observer);

/// Checks the shapes and finiteness of y0 and θ against the field (used by every entry point).
template <class T>
void validate_inputs(const VectorField<T>& f, const ConstBatchRef<T>& y0,
                     const ConstVectorRef<T>& theta);

/// A solution: the saved times and states and the statistics.
template <class T>
struct Solution {
  std::vector<double> ts;
  std::vector<Batch<T>> ys;
  SolveStats stats;
};

/// Convenience over `integrate` that keeps the saved states.
template <class T>
Solution<T> solve(const VectorField<T>& f, const Stepper<T>& stepper, const StepControl& control,
                  const SaveAt& save_at, double t0, double t1,
                  const NonDeduced<ConstBatchRef<T>>& y0,
                  const NonDeduced<ConstVectorRef<T>>& theta);

}  // namespace revode
