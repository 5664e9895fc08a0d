/// The backward walk over the accepted steps that every discrete-adjoint gradient method shares:
/// the adjoint x̄_{n+1} of the state after step n, the save cotangents that land in step n, the
/// step's VJP (from the stepper, or from the method itself), and ∂L/∂y0 at the end. Methods
/// differ only in how they obtain each step's x_n and tape (STYLE.md E6).
#pragma once

#include <vector>

#include "revode/gradients/gradient_method.hpp"
#include "revode/gradients/recomputed_cotangents.hpp"

namespace revode {

template <class T>
class StepAdjoint {
 public:
  /// Starts at the end of the last step with x̄_N = 0. `saves` recomputes each save's
  /// cotangent from the step's end states; `f` is the field the VJPs go through (a
  /// CountingField, so the caller can count them).
  StepAdjoint(const GradientProblem<T>& problem, const VectorField<T>& f, SaveWalk<T>& saves);

  /// Adds the cotangents of the saves inside step n (t0 → t1, solver states x0 → x1): endpoint
  /// saves to x̄_{n+1}; dense saves also to x̄_n, through one VJP of f at each end. Call it
  /// once per step, for n = N−1 down to 0, before reading x1_bar(). `tape` (optional) is
  /// the step's tape.
  void add_saves(double t0, double t1, const ConstBatchRef<T>& x0, const ConstBatchRef<T>& x1,
                 const ConstBatchRef<T>& tape = Batch<T>());
  /// x̄_{n+1}, complete once add_saves(n, …) ran.
  const Batch<T>& x1_bar() const { return x_bar_; }
  /// Where the step's VJP writes x̄_n (overwritten; must not alias x1_bar()).
  Batch<T>& x0_bar() { return x_bar_prev_; }
  /// ∂L/∂θ accumulated so far.
  Vector<T>& theta_bar() { return theta_bar_; }
  /// After x0_bar() was written: adds the dense-save part and moves on to step n − 1.
  void finish_step();
  /// add_saves + the stepper's step_vjp + finish_step, for a step whose tape is at hand.
  void step_vjp(double t0, double t1, const ConstBatchRef<T>& x0, const ConstBatchRef<T>& x1,
                const ConstBatchRef<T>& tape);
  /// Adds the saves at the initial time and pulls x̄_0 back through the stepper's
  /// initialisation: returns ∂L/∂y0 (state_dim × batch).
  Batch<T> grad_y0();

 private:
  const GradientProblem<T>& p_;
  const VectorField<T>& f_;
  SaveWalk<T>& saves_;
  Index dim_;
  Batch<T> x_bar_, x_bar_prev_, pending_;
  Vector<T> theta_bar_;
};

extern template class StepAdjoint<float>;
extern template class StepAdjoint<double>;

}  // namespace revode
