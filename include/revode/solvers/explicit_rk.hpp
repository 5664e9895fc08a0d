/// The one generic explicit Runge–Kutta stepper, driven by a ButcherTableau, with the
/// transposed stage recursion as its per-step VJP (Hairer, Lubich & Wanner, GNI §VI.4;
/// Sanz-Serna 2016, "Symplectic Runge–Kutta schemes for adjoint equations").
#pragma once

#include <memory>

#include "revode/solvers/butcher_tableau.hpp"
#include "revode/solvers/stepper.hpp"

namespace revode {

/// Stages k_i = f(t0 + c_i h, Y_i), Y_i = y0 + h Σ_{j<i} a_ij k_j, y1 = y0 + h Σ b_i k_i.
/// The tape holds the stages side by side: columns [i·batch, (i+1)·batch) are k_i.
template <class T>
class ExplicitRK final : public Stepper<T> {
 public:
  explicit ExplicitRK(const ButcherTableau& tableau);

  const ButcherTableau& tableau() const { return tableau_; }

  std::string name() const override { return std::string(tableau_.name); }
  int order() const override { return tableau_.order; }
  int error_order() const override { return tableau_.embedded_order; }
  int evals_per_step() const override;
  Index tape_cols(Index batch) const override { return tableau_.stages * batch; }
  bool fsal() const override { return fsal_; }
  std::unique_ptr<Stepper<T>> clone() const override { return std::make_unique<ExplicitRK>(*this); }

  void step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
            const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape, Batch<T>* error,
            bool first_stage_ready) const override;
  void carry_fsal(BatchRef<T> tape) const override;
  /// step() for a caller that never carries the FSAL stage into a next step (McCallum–Foster's
  /// base steps, forwards and in reconstruction): unless an error estimate is asked for, the
  /// trailing FSAL stage feeds nothing, so it is not evaluated (dopri5 7 → 6 evaluations,
  /// bosh3 4 → 3) and its tape slot is left as it was. step_vjp never reads that slot.
  void step_unchained(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                      const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape,
                      Batch<T>* error) const;
  void step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                const ConstVectorRef<T>& theta, const ConstBatchRef<T>& tape,
                const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                VectorRef<T> theta_bar) const override;
  bool start_derivative(const ConstBatchRef<T>& tape, Index batch, BatchRef<T> out) const override;

  /// The batch-1 paths of step_unchained and step_vjp on raw pointers, with the field called
  /// through VectorField::eval_column / vjp_column: no view is built per stage. x0, x1, x1_bar
  /// and x0_bar are `dim` contiguous scalars; the tape's stage i is the column at
  /// tape + i · tape_stride. The same numbers, bit for bit, as the batched code on one column
  /// (the same fused multiply-adds in the same order), which step and step_vjp also take at
  /// batch 1.
  void step_unchained_column(const VectorField<T>& f, T t0, T t1, const T* x0, Index dim,
                             const ConstVectorRef<T>& theta, T* x1, T* tape, Index tape_stride,
                             Batch<T>* error) const;
  void step_vjp_column(const VectorField<T>& f, T t0, T t1, const T* x0, Index dim,
                       const ConstVectorRef<T>& theta, const T* tape, Index tape_stride,
                       const T* x1_bar, T* x0_bar, VectorRef<T> theta_bar) const;

 private:
  /// The stages and x1 of one column (step_unchained_column without the error estimate).
  void run_column(const VectorField<T>& f, T t0, T t1, const T* x0, Index dim,
                  const ConstVectorRef<T>& theta, T* x1, T* tape, Index tape_stride,
                  bool first_stage_ready, bool skip_fsal_stage) const;
  /// out = y0 + h Σ_{j<n} w_j k_j over the nonzero weights, k_j at tape + j · stride, one
  /// column of dim scalars (stage_input's and the b-weighted sum's column form).
  void column_sum(const T* y0, const std::array<double, kMaxStages>& w, int n, T h,
                  const T* tape, Index stride, Index dim, T* out) const;
  /// error = h Σ_i (b_i − b̂_i) k_i, the embedded estimate from the step's stages.
  void add_error(T h, const ConstBatchRef<T>& tape, Index rows, Index batch,
                 Batch<T>& error) const;
  /// The time of stage i of a step from t0 to t1 (t1 itself where c_i = 1).
  T stage_time(int i, T t0, T t1) const {
    return i == 0 ? t0 : (tableau_.c[i] == 1.0 ? t1 : t0 + T(tableau_.c[i]) * (t1 - t0));
  }
  /// out = y0 + h Σ_{j<i} a_ij k_j: the stage input of stage i (the one fused combination
  /// every stage goes through).
  void stage_input(int i, T h, const ConstBatchRef<T>& y0, const ConstBatchRef<T>& tape,
                   Index batch, BatchRef<T> out) const;
  /// step()'s body; `skip_fsal_stage` leaves out the trailing FSAL stage (step_unchained).
  void run_step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape, Batch<T>* error,
                bool first_stage_ready, bool skip_fsal_stage) const;

  ButcherTableau tableau_;
  bool fsal_;
  // Scratch reused across calls (sized on first use; a stepper is not shared across threads).
  mutable Batch<T> stage_state_, stage_bar_, y_bar_in_;
  mutable Batch<T> k_bar_;
};

}  // namespace revode
