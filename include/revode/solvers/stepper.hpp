/// The stepper interface: one step of a one-step method on the solver's own state, and the
/// vector-Jacobian product of that step. Gradient methods are generic over this interface:
/// they differ only in what they store and what they recompute (STYLE.md E6).
#pragma once

#include <memory>
#include <string>

#include "revode/core/types.hpp"
#include "revode/core/vector_field.hpp"

namespace revode {

/// A one-step method x_{n+1} = Φ(t_n, t_{n+1}, x_n; θ) on a solver state x.
///
/// The solver state may be larger than the ODE state y (a reversible solver carries two
/// copies): it has `state_copies()` blocks of state_dim rows stacked vertically, the first
/// block being y. A step may keep stage data in a *tape* (state_dim × tape_cols(batch)) that
/// its `step_vjp` reads back; gradient methods either store tapes or recompute them by calling
/// `step` again.
template <class T>
class Stepper {
 public:
  virtual ~Stepper() = default;

  virtual std::string name() const = 0;
  /// Order of the propagated solution.
  virtual int order() const = 0;
  /// Order of the embedded error estimate, 0 when the method has none (fixed steps only).
  virtual int error_order() const = 0;
  /// Function evaluations in one step (not counting one saved by FSAL).
  virtual int evals_per_step() const = 0;
  /// Number of state_dim blocks in the solver state (1 for explicit RK).
  virtual int state_copies() const { return 1; }
  /// Columns of the tape for a batch of `batch` samples (in units of state_dim rows).
  virtual Index tape_cols(Index batch) const = 0;
  /// True when the solution between two steps is the cubic Hermite interpolant of y and f at
  /// the step's ends (dense output); false for SDE steps, whose path between steps is not the
  /// drift's.
  virtual bool dense_output() const { return true; }
  /// True when the tape's last stage is f(t1, y1), so the next step can start from it.
  virtual bool fsal() const { return false; }
  /// An independent copy with its own scratch (steppers keep scratch, so one instance must not
  /// step on two threads at once); nullptr when the stepper cannot be copied, in which case
  /// parallel_gradient runs its chunks serially (same results, one thread).
  virtual std::unique_ptr<Stepper> clone() const { return nullptr; }

  /// Solver state at t0 from y0 (rows: state_copies() × dim). Default: x0 = y0.
  virtual void initialize(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                          const ConstVectorRef<T>& theta, BatchRef<T> x0) const;
  /// VJP of `initialize`: y0_bar = x0_barᵀ ∂x0/∂y0; theta_bar += x0_barᵀ ∂x0/∂θ.
  virtual void initialize_vjp(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                              const ConstVectorRef<T>& theta, const ConstBatchRef<T>& x0_bar,
                              BatchRef<T> y0_bar, VectorRef<T> theta_bar) const;

  /// One step from (t0, x0) to t1. Writes x1 and the tape. When `error` is non-null (and the
  /// method has an estimate) writes the local error estimate of y1 (state_dim × batch).
  /// When `first_stage_ready` the tape already holds f(t0, y0) in its FSAL slot.
  virtual void step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                    const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape,
                    Batch<T>* error, bool first_stage_ready) const = 0;

  /// Moves f(t1, y1) from the slot where `step` left it to the slot the next step reads,
  /// for FSAL methods.
  virtual void carry_fsal(BatchRef<T> tape) const { (void)tape; }

  /// VJP of one step: x0_bar = x1_barᵀ ∂x1/∂x0, theta_bar += x1_barᵀ ∂x1/∂θ, using the tape
  /// written by `step` from the same (t0, t1, x0, θ). x0_bar must not alias x1_bar.
  virtual void step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                        const ConstVectorRef<T>& theta, const ConstBatchRef<T>& tape,
                        const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                        VectorRef<T> theta_bar) const = 0;

  /// f(t0, y0) when a step's tape already holds it (explicit RK: the first stage), so dense
  /// output need not evaluate it again. Returns false when it is not available.
  virtual bool start_derivative(const ConstBatchRef<T>& tape, Index batch, BatchRef<T> out) const {
    (void)tape, (void)batch, (void)out;
    return false;
  }

  /// f(t1, y1) when the tape of the step that ended at y1 holds it, evaluated at exactly y1's
  /// bits (McCallum–Foster: the first stage of its reverse base step), so dense output need
  /// not evaluate it again. Returns false when it is not available, or when the tape is not
  /// that of a step ending at y1.
  virtual bool end_derivative(const ConstBatchRef<T>& tape, const ConstBatchRef<T>& y1,
                              BatchRef<T> out) const {
    (void)tape, (void)y1, (void)out;
    return false;
  }
};

}  // namespace revode
