/// Higher-order reversible steppers by symmetric composition of a symmetric reversible base step
/// (the asynchronous leapfrog with η = 1, or reversible Heun): Φ_h = ψ_{γ_s h} ∘ … ∘ ψ_{γ_1 h}
/// with the coefficients of composition_coefficients.hpp (Yoshida 1990; Suzuki 1990; Hairer,
/// Lubich & Wanner GNI §II.4, §V.3), after Maslovskaya, Ober-Blöbaum, Offen, Singh & Wembe,
/// arXiv 2410.09537, "Adaptive higher order reversible integrators" (ALGORITHMS.md §4).
#pragma once

#include <memory>
#include <vector>

#include "revode/solvers/reversible/composition_coefficients.hpp"
#include "revode/solvers/reversible_stepper.hpp"

namespace revode {

/// Sub-step i (1 … s) runs the base from τ_{i−1} to τ_i, τ_0 = t0, τ_i = t0 + (t1 − t0) c_i,
/// τ_s = t1, with c_i = γ_1 + … + γ_i; step, inverse and VJP form the τ_i by the same
/// expression, so the inverse replays the forward's floats. Any composition of exactly
/// invertible base steps is exactly invertible, for every step size sequence: the inverse runs
/// the base inverses in reverse order.
///
/// Error estimate (free, no extra evaluation): with the symmetric pair of sub-step ends
/// i = scheme.pair, j = s − i (c_j = 1 − c_i),
///   ŷ = y0 + (y_i − y_j) / (c_i − c_j),   error = y1 − ŷ,
/// i.e. the midpoint rule with the slope taken as the secant through two states the step
/// computes anyway. ŷ is an order-2 approximation (its truncation error is
/// h³ y'''(t0) ((c_i − ½)²/6 − 1/24) plus the O(h³) errors of y_i and y_j), so error_order() = 2
/// whatever the composite's order: the controller sizes steps so that this O(h³) estimate
/// meets the tolerance, and the order-p result is then much more accurate than rtol (tighten
/// the tolerance less than for an order-2 method). The alternative comparison with one base
/// step ψ_h from y0 is also order 2 and costs the base's evaluations again; an order-(p − 2)
/// composite over the same step would cost as much as the step itself.
///
/// Tape (state_dim rows): the intermediate solver states x_1 … x_{s−1} (each state_copies()
/// blocks of `batch` columns), then the s base tapes. The VJP runs the base VJPs in reverse
/// order at those states, and `reverse_step_with_tape` refills them from the base inverses
/// it runs anyway, so a backward step costs s base inverses and s base VJPs, like the
/// forward step's s base steps.
template <class T>
class Composition final : public ReversibleStepper<T> {
 public:
  /// @throws revode::Error unless base is non-null, the scheme has ≥ 3 sub-steps and
  /// 1 ≤ pair < s/2 (messages name the scheme).
  Composition(std::unique_ptr<ReversibleStepper<T>> base, const CompositionScheme& scheme);

  const ReversibleStepper<T>& base() const { return *base_; }
  const CompositionScheme& scheme() const { return scheme_; }
  Index substeps() const { return Index(scheme_.gamma.size()); }

  /// "<base>-<scheme>", e.g. "alf-yoshida4".
  std::string name() const override;
  int order() const override { return scheme_.order; }
  int error_order() const override { return 2; }
  int evals_per_step() const override { return int(substeps()) * base_->evals_per_step(); }
  std::unique_ptr<Stepper<T>> clone() const override;
  int state_copies() const override { return base_->state_copies(); }
  Index tape_cols(Index batch) const override;

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

 private:
  /// τ_i of the step (t0, t1), i = 0 … s.
  T node(T t0, T t1, Index i) const;
  /// Tape columns of intermediate state i (1 … s−1) and of base tape i (1 … s).
  Index state_offset(Index i, Index batch) const;
  Index base_tape_offset(Index i, Index batch) const;
  /// x (state_copies()·dim × batch) to and from its packed tape columns.
  void pack(const ConstBatchRef<T>& x, BatchRef<T> tape, Index i) const;
  void unpack(const ConstBatchRef<T>& tape, Index i, Index dim, BatchRef<T> x) const;
  /// Reverse sub-steps s … 1 from x1; keeps x_i in the tape when `tape` has columns.
  void invert(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x1,
              const ConstVectorRef<T>& theta, BatchRef<T> x0, BatchRef<T> tape,
              bool with_base_tapes) const;

  std::unique_ptr<ReversibleStepper<T>> base_;
  CompositionScheme scheme_;
  std::vector<double> c_;  ///< c_0 = 0, c_1, …, c_s = 1 (cumulative γ)
  mutable Batch<T> a_, b_, bar_a_, bar_b_, tape_, y_pair_;  // scratch
};

extern template class Composition<float>;
extern template class Composition<double>;

}  // namespace revode
