/// ShARK, the shifted additive-noise Runge–Kutta method of James Foster (Foster, dos Reis &
/// Strange 2023, "High order splitting methods for SDEs satisfying a commutativity condition",
/// eq. (6.1); diffrax's `ShARK`), for dy = f(t, y) dt + G(t) dW with additive noise. With
/// W = W_{t0,t1}, H = H_{t0,t1} (the space-time Lévy area, brownian_tree.hpp), h = t1 − t0 and
/// G = g(t0):
///   Z1 = y0 + G H,                              k1 = f(t0, Z1),
///   Z2 = y0 + (5/6) h k1 + G ((5/6) W + H),     k2 = f(t0 + (5/6) h, Z2),
///   y1 = y0 + h ((2/5) k1 + (3/5) k2) + G W.
/// Two drift evaluations and one diffusion evaluation per step; strong order 1.5 for additive
/// noise with G constant in time (a G(t) that varies is frozen at t0 over the step, order 1;
/// diffrax adds (g(t1) − g(t0))/2 · (W − 2H) for it, not done here),
/// order 2 on the drift. Itô and Stratonovich coincide for additive noise. An ordinary Stepper
/// (state y, no tape: step_vjp recomputes the two stages), so every gradient method applies.
///
/// Error estimate (diffrax's ShARK tableau, b_error = (−3/5, 3/5); diffrax/_solver/shark.py and
/// srk.py, which adds h Σ b_error_j k_j and no noise part for additive coefficients):
///   e = (3/5) h (k2 − k1) = y1 − ŷ1,   ŷ1 = y0 + h k1 + G W,
/// the difference from the embedded shifted Euler step (b̂ = (1, 0)), free (no extra
/// evaluation). Z2 − Z1 = (5/6)(h k1 + G W), so e = ½ h f'(Z1) G W + O(h²): the additive-noise
/// term ½ h f' g ΔW that heun's embedded Euler sees, O(h^1.5). The controller is told
/// error_order() = 1 as for every SDE step with an estimate (sde_steppers.hpp).
#pragma once

#include <memory>
#include <string_view>

#include "revode/sde/brownian_tree.hpp"
#include "revode/sde/sde_field.hpp"
#include "revode/solvers/stepper.hpp"

namespace revode {

template <class T>
class SdeShark final : public Stepper<T> {
 public:
  /// @throws revode::Error unless `brownian` has LevyArea::space_time and `noise` is additive.
  SdeShark(std::shared_ptr<const BrownianTree> brownian, NoiseType noise);
  std::string name() const override { return "shark (SDE)"; }
  bool dense_output() const override { return false; }  // the path between steps is W's
  int order() const override { return 2; }
  int error_order() const override { return 1; }
  int evals_per_step() const override { return 2; }
  Index tape_cols(Index) const override { return 0; }
  void step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
            const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape, Batch<T>* error,
            bool) const override;
  void step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                const ConstVectorRef<T>& theta, const ConstBatchRef<T>& tape,
                const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                VectorRef<T> theta_bar) const override;

 private:
  /// W, H of [t0, t1], G = g(t0) and the stages Z1, k1, Z2 of the step from y0. @throws
  /// revode::Error for dt ≤ 0 or a step below the Brownian tree's resolution
  /// (require_resolved_step).
  const SdeField<T>& stages(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& y0,
                            const ConstVectorRef<T>& theta) const;

  std::shared_ptr<const BrownianTree> brownian_;
  mutable Batch<double> w64_, h64_;
  mutable Batch<T> w_, h_, shifted_, g_, gw_, z1_, k1_, z2_, k2_, z_bar_, k_bar_, g_bar_, y_bar_;
};

/// The space-time Lévy area the SDE solver `name` needs of its Brownian tree: space_time for
/// "shark", none for every other solver (front ends build the tree with it).
LevyArea sde_solver_levy_area(std::string_view name);

}  // namespace revode
