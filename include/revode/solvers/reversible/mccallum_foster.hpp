/// McCallum & Foster's reversible wrapper of any explicit Runge–Kutta method (arXiv 2410.11648,
/// "Efficient, accurate and stable gradients for neural ODEs", Alg. 1; diffrax's
/// `Reversible`). A wrapper, not a second RK implementation (STYLE.md E5).
#pragma once

#include <memory>

#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/reversible_stepper.hpp"

namespace revode {

/// With the base step Φ_h and Ψ_h(x) = Φ_h(x) − x, on the state (Y, Z), Y0 = Z0 = y0:
///   Y_{n+1} = λ (Y_n − Z_n) + Φ_h(Z_n)          (= λ Y_n + (1 − λ) Z_n + Ψ_h(Z_n))
///   Z_{n+1} = Z_n + Y_{n+1} − Φ_{−h}(Y_{n+1})   (= Z_n − Ψ_{−h}(Y_{n+1}))
/// and exactly backwards
///   Z_n = Z_{n+1} − Y_{n+1} + Φ_{−h}(Y_{n+1}),   Y_n = λ⁻¹ (Y_{n+1} − Φ_h(Z_n)) + Z_n.
/// Y is the output and keeps the base method's order. λ = `coupling` ∈ (0, 1]: smaller λ is
/// more stable forwards (real stability interval of the Euler base: [−(1 − λ), 0]) but the
/// inverse amplifies round-off by about λ⁻¹ per step; the paper uses λ = 0.999 in float64.
///
/// Cost: two full base steps per step (FSAL is not used: the two base steps start from
/// different points, so the base's last stage is never the next step's first).
///
/// Error estimate: the base tableau's embedded estimate of the Φ_{−h} step taken from
/// Y_{n+1}, as diffrax's `Reversible` does (ALGORITHMS.md §4). That step is the one whose
/// accuracy decides how well Z tracks Y; its estimate has the base's embedded order.
///
/// Tape (state_dim rows): columns [0, batch) hold Y_{n+1}; then the s stages of Φ_h(Z_n);
/// then the s stages of Φ_{−h}(Y_{n+1}) (s = base stages, each `batch` columns). Keeping
/// Y_{n+1} lets the VJP run the Φ_{−h} transpose at exactly the forward's point.
/// `reverse_step_with_tape` writes the same tape while inverting, so the backward pass needs
/// 2 base steps and 2 base VJPs per step, as the backward recurrence of ALGORITHMS.md §4.
template <class T>
class McCallumFoster final : public ReversibleStepper<T> {
 public:
  /// @throws revode::Error unless 0 < coupling ≤ 1 (message names λ and its value).
  McCallumFoster(const ButcherTableau& base, double coupling);

  double coupling() const { return coupling_; }
  const ExplicitRK<T>& base() const { return base_; }

  std::string name() const override;
  int order() const override { return base_.order(); }
  int error_order() const override { return base_.error_order(); }
  /// Two base steps, each without the trailing FSAL stage of an FSAL base (base().step_unchained;
  /// an adaptive step evaluates it once more, for the error estimate).
  int evals_per_step() const override { return 2 * base_.evals_per_step(); }
  std::unique_ptr<Stepper<T>> clone() const override {
    return std::make_unique<McCallumFoster>(*this);
  }
  int state_copies() const override { return 2; }
  Index tape_cols(Index batch) const override { return batch + 2 * base_.tape_cols(batch); }

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
  void reverse_step_with_tape(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x1,
                              const ConstVectorRef<T>& theta, BatchRef<T> x0,
                              BatchRef<T> tape) const override;
  /// The tape keeps Y_{n+1} and Φ_{−h}(Y_{n+1})'s first stage, f(t_{n+1}, Y_{n+1}).
  bool end_derivative(const ConstBatchRef<T>& tape, const ConstBatchRef<T>& y1,
                      BatchRef<T> out) const override;

 private:
  /// One base step Φ from ta to tb of the dim × batch block at x (columns `stride` apart) into
  /// phi_, its stages into the tape block at `tape` (columns `tape_stride` apart): at batch 1
  /// the base's column path on the pointers, else step_unchained on views of them.
  void base_step(const VectorField<T>& f, T ta, T tb, const T* x, Index stride, Index dim,
                 Index batch, const ConstVectorRef<T>& theta, T* tape, Index tape_stride,
                 Batch<T>* error) const;
  /// The base step's VJP likewise: x̄ (dim × batch, contiguous) from x1_bar, θ̄ accumulated.
  void base_vjp(const VectorField<T>& f, T ta, T tb, const T* x, Index stride, Index dim,
                Index batch, const ConstVectorRef<T>& theta, const T* tape, Index tape_stride,
                const Batch<T>& x1_bar, Batch<T>& x_bar, VectorRef<T> theta_bar) const;

  ExplicitRK<T> base_;
  double coupling_;
  // Scratch (sized on first use; a stepper is not shared across threads).
  mutable Batch<T> phi_, cotangent_, y1_bar_, z0_bar_, tape_;
};

extern template class McCallumFoster<float>;
extern template class McCallumFoster<double>;

}  // namespace revode
