/// The accepted steps of a solve as a random-access sequence of times, and the replay of a run
/// of those steps from a stored state. Gradient methods that recompute forward steps during
/// the backward pass (ANODE, revolve, online checkpointing) re-run steps through `replay_steps`
/// with exactly the (t0, t1) floats the forward solve used, so they never re-derive a step
/// size or run a step-size controller of their own (STYLE.md §4.1).
#pragma once

#include <optional>
#include <vector>

#include "revode/core/vector_field.hpp"
#include "revode/solvers/fixed_grid.hpp"
#include "revode/solvers/stepper.hpp"

namespace revode {

/// Step boundaries t_0 = t0, t_1, …, t_N = t1 of the N accepted steps of a solve.
///
/// Fixed steps: known before the solve and generated on demand from the shared FixedGrid
/// (the uniform nodes cost nothing; only save times that split an interval are kept, at
/// most one per save). Adaptive steps: unknown until the solve ends, so the forward pass
/// records each accepted step end (N + 1 scalars, reported by `stored_floats`).
class StepSequence {
 public:
  /// The steps `integrate` takes with fixed steps (the same FixedGrid, so the same floats).
  /// Like FixedGrid, keeps a reference to save_at.ts: it must not outlive save_at.
  static StepSequence fixed(const FixedSteps& fixed, const SaveAt& save_at, double t0, double t1);
  /// An empty record starting at t0; append each accepted step end with `record`.
  static StepSequence recorded(double t0);

  /// Whether the number of steps was known before the solve (fixed steps).
  bool known_in_advance() const { return !recorded_; }
  /// Appends the end t1 of the next accepted step (recorded sequences only).
  void record(double t1);
  /// The number of steps N.
  Index steps() const { return steps_; }
  /// t_n for n = 0 … N.
  double operator[](Index n) const;
  /// Scalars held: recorded times, or the save times that split the fixed grid.
  Index stored_floats() const { return Index(times_.size() + split_at_.size()); }

 private:
  StepSequence() = default;

  bool recorded_ = false;
  Index steps_ = 0;
  std::vector<double> times_;    ///< recorded: every t_n; fixed: the split times, in order
  std::vector<Index> split_at_;  ///< fixed: the index n of each split time t_n in times_
  std::optional<FixedGrid> grid_;
};

/// Appends t to an adaptive solve's recorded step times t_0, t_1, … (t_0 first), checking the
/// memory limit (allocation_limit.hpp, shared by the chunks in flight) whenever the storage
/// grows: the number of steps is known only as the solve runs, so a tight rtol or a long
/// horizon stops with a named error instead of growing without bound. Capacity doubles, so
/// the check runs O(log N) times.
void record_step_time(std::vector<double>& times, double t);

/// Re-runs steps n = from … to−1 of `times` from the solver state x = x_from, leaving x_to in
/// `x` and step to−1's tape in `tape` (the step's VJP input). For FSAL tableaux the first
/// stage of each replayed step is evaluated again rather than carried over: it is the same
/// f(t_n, y_n), and the step's VJP does not care where it came from.
/// @param scratch same shape as x. Returns the number of steps run (to − from).
template <class T>
Index replay_steps(const VectorField<T>& f, const Stepper<T>& stepper, const StepSequence& times,
                   Index from, Index to, const ConstVectorRef<T>& theta, Batch<T>& x,
                   Batch<T>& scratch, Batch<T>& tape);

extern template Index replay_steps<float>(const VectorField<float>&, const Stepper<float>&,
                                          const StepSequence&, Index, Index,
                                          const ConstVectorRef<float>&, Batch<float>&,
                                          Batch<float>&, Batch<float>&);
extern template Index replay_steps<double>(const VectorField<double>&, const Stepper<double>&,
                                           const StepSequence&, Index, Index,
                                           const ConstVectorRef<double>&, Batch<double>&,
                                           Batch<double>&, Batch<double>&);

}  // namespace revode
