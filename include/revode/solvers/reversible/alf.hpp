/// The asynchronous leapfrog method with damping (ALF; Zhuang, Dvornek, Tatikonda & Duncan
/// 2021, "MALI: a memory efficient and reverse accurate integrator for neural ODEs", ICLR,
/// Alg. 1–2 and §3.4).
#pragma once

#include <memory>

#include "revode/solvers/reversible_stepper.hpp"

namespace revode {

/// On the state (z, v), starting from (y0, f(t0, y0)) — starting v elsewhere drops the order:
///   k = z + h v / 2,   u = f(t0 + h/2, k),   v1 = v + 2η (u − v),   z1 = k + h v1 / 2;
/// inverse: k = z1 − h v1 / 2, u = f(t0 + h/2, k), v = (v1 − 2η u) / (1 − 2η),
/// z = k − h v / 2. One evaluation per step either way, no tape (the VJP recomputes k).
///
/// η = `damping` ∈ (0, 1], η ≠ 1/2. η = 1 is MALI's undamped, symmetric scheme: order 2,
/// stable only on the imaginary segment [−i, i]. η < 1 adds the real stability interval
/// [−2(1 − η)/η, 0] but is order 1 (z1 = z + h((1 − η) v + η u) matches the Taylor series
/// only for η = 1), and the inverse amplifies v's round-off by 1/|1 − 2η| per step; η = 1/2
/// forgets v altogether (v1 = u) and has no inverse.
///
/// Error estimate (MALI's adaptive variant): h (u − v), O(h²), so error order 1 (MALI's
/// step-size exponent 1/2).
template <class T>
class AsynchronousLeapfrog final : public ReversibleStepper<T> {
 public:
  /// @throws revode::Error unless 0 < damping ≤ 1 and damping ≠ 1/2 (message names η).
  explicit AsynchronousLeapfrog(double damping = 1.0);

  double damping() const { return damping_; }

  std::string name() const override { return "alf"; }
  int order() const override { return damping_ == 1.0 ? 2 : 1; }
  int error_order() const override { return 1; }
  int evals_per_step() const override { return 1; }
  std::unique_ptr<Stepper<T>> clone() const override {
    return std::make_unique<AsynchronousLeapfrog>(*this);
  }
  int state_copies() const override { return 2; }
  Index tape_cols(Index) const override { return 0; }

  void initialize(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                  const ConstVectorRef<T>& theta, BatchRef<T> x0) const override;
  void initialize_vjp(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                      const ConstVectorRef<T>& theta, const ConstBatchRef<T>& x0_bar,
                      BatchRef<T> y0_bar, VectorRef<T> theta_bar) const override;
  void step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
            const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape, Batch<T>* error,
            bool first_stage_ready) const override;
  void step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                const ConstVectorRef<T>& theta, const ConstBatchRef<T>& tape,
                const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                VectorRef<T> theta_bar) const override;
  void reverse_step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x1,
                    const ConstVectorRef<T>& theta, BatchRef<T> x0) const override;

 private:
  /// The midpoint time t0 + h/2, formed identically by the step, its inverse and its VJP.
  static T midpoint(T t0, T t1) { return t0 + (t1 - t0) / T(2); }

  double damping_;
  mutable Batch<T> k_, u_, v1_bar_, u_bar_, k_bar_;  // scratch
};

extern template class AsynchronousLeapfrog<float>;
extern template class AsynchronousLeapfrog<double>;

}  // namespace revode
