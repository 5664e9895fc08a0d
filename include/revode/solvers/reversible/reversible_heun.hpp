/// The reversible Heun method (Kidger, Foster, Li & Lyons 2021, "Efficient and accurate
/// gradients for neural SDEs", NeurIPS; diffrax's ReversibleHeun), here for ODEs.
#pragma once

#include <memory>

#include "revode/solvers/reversible_stepper.hpp"

namespace revode {

/// On the state (y, ŷ, f̂) with f̂ = f(t, ŷ), starting from (y0, y0, f(t0, y0)):
///   ŷ1 = 2 y − ŷ + h f̂,   f̂1 = f(t1, ŷ1),   y1 = y + h/2 (f̂ + f̂1);
/// the inverse is the same map with −h (ŷ0 = 2 y1 − ŷ1 − h f̂1, f̂0 = f(t0, ŷ0),
/// y0 = y1 − h/2 (f̂0 + f̂1)). Order 2, symmetric, one evaluation per step in either direction.
/// Linear stability only on the imaginary segment [−i, i]: on dissipative problems it is
/// unstable for every h (diffrax issue 417).
///
/// Why f̂ lives in the state rather than in an FSAL tape slot: the paper's (y, ŷ) formulation
/// carries f(ŷ) from step to step anyway (diffrax keeps it in the solver state). Making it a
/// third state block keeps the method FSAL-free — the forward step, the inverse step and
/// the VJP each touch f exactly once (one eval, one eval, one VJP at ŷ1), whereas a (y, ŷ)
/// step with f(ŷ0) and f(ŷ1) on its tape needs two VJPs per step, and its inverse an FSAL
/// carry of its own. f̂0 = f(t0, y0) is made by `initialize` and differentiated by
/// `initialize_vjp`, like the asynchronous leapfrog's v0. The tape is empty: the VJP recomputes
/// ŷ1 from x0 with the forward's exact expression.
///
/// Error estimate: h/2 (f̂1 − f̂) = h/2 (f(ŷ1) − f(ŷ0)), O(h²): error order 1.
template <class T>
class ReversibleHeun final : public ReversibleStepper<T> {
 public:
  std::string name() const override { return "reversible-heun"; }
  int order() const override { return 2; }
  int error_order() const override { return 1; }
  int evals_per_step() const override { return 1; }
  std::unique_ptr<Stepper<T>> clone() const override {
    return std::make_unique<ReversibleHeun>(*this);
  }
  int state_copies() const override { return 3; }
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
  mutable Batch<T> y_hat1_, f_bar_, y_hat1_bar_;  // scratch
};

extern template class ReversibleHeun<float>;
extern template class ReversibleHeun<double>;

}  // namespace revode
