/// Algebraically reversible steppers: the state at the start of a step can be recomputed from
/// the state at its end, so a gradient method need store no states at all (ALGORITHMS.md §4;
/// the capability refinement of STYLE.md E3, after diffrax's AbstractReversibleSolver).
#pragma once

#include "revode/solvers/stepper.hpp"

namespace revode {

/// A Stepper whose step x1 = Φ(t0, t1, x0) has an exact algebraic inverse.
///
/// Contract: for x1 written by `step(f, t0, t1, x0, …)`, `reverse_step(f, t0, t1, x1, …)`
/// gives back x0 up to round-off (amplified by the inverse's conditioning; see each solver).
/// The inverse sees the same (t0, t1) floats as the forward step, so no times are re-derived.
template <class T>
class ReversibleStepper : public Stepper<T> {
 public:
  /// x0 from x1 (both state_copies() × dim rows, batch columns). x0 must not alias x1.
  virtual void reverse_step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x1,
                            const ConstVectorRef<T>& theta, BatchRef<T> x0) const = 0;

  /// The fused backward hook: x0 from x1 AND the tape that `step` from x0 would have written,
  /// sharing the evaluations the inversion needs (McCallum–Foster's inverse evaluates exactly
  /// the stages of the forward step). Followed by `step_vjp` with that tape, it gives the
  /// step's VJP without a forward re-run. The default inverts, then re-runs `step` when the
  /// tape is non-empty: correct for any reversible stepper, one step dearer.
  virtual void reverse_step_with_tape(const VectorField<T>& f, T t0, T t1,
                                      const ConstBatchRef<T>& x1, const ConstVectorRef<T>& theta,
                                      BatchRef<T> x0, BatchRef<T> tape) const;
};

}  // namespace revode
