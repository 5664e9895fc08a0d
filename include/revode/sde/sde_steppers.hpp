/// SDE solvers as ordinary Steppers, so every gradient method (backprop, anode, checkpoint:C,
/// reversible with its guard) and integrate() run on SDEs unchanged. Each step asks the
/// Brownian tree for ΔW = W(t1) − W(t0) (a pure function of the two times), so a backward pass
/// that recomputes or inverts a step sees bit-identical noise.
///
/// Explicit RK and McCallum–Foster steps are the ODE steps applied to the control term
/// f dt + g dW with the Brownian path linear over the step (diffrax's ControlTerm; the
/// Wong–Zakai view): the step integrates y' = F(t, y) = f(t, y) + g(t, y) ΔW / h. Hence
///   euler     → Euler–Maruyama, converges to the Itô solution (strong order 0.5; 1 for additive
///               noise), the only Itô scheme here;
///   heun, midpoint (and any other tableau) → Stratonovich (strong order 1 for commutative,
///               scalar, diagonal or additive noise; 0.5 for general noncommutative noise,
///               which would need Lévy area);
///   reversible:<tableau> → McCallum–Foster over that step, Stratonovich.
/// Reversible Heun (Kidger, Foster, Li & Lyons 2021, "Efficient and accurate gradients for
/// neural SDEs", Alg. 1) is its own class: it carries f̂ and ĝ of the last step's ẑ.
///
/// Adaptive steps (docs/sde.md): a step with an embedded estimate reports it, and integrate()'s
/// PID controller accepts or rejects as for an ODE. A rejected step is harmless because the
/// Brownian path is fixed by the seed before the solve (a virtual Brownian tree, Gaines & Lyons
/// 1997): the retried, shorter step asks the tree for W at its new end and gets the same path's
/// value, the Brownian bridge between the known points, never a fresh draw that would bias the
/// path towards small increments. The accepted step times are recorded by the gradient methods
/// (StepSequence), so the backward pass replays exactly the forward's steps and increments.
/// The SDE local error of these estimates is O(h) for y-dependent noise (½ g'g ΔW² separates
/// Heun from its embedded Euler) and O(h^1.5) for additive noise; the controller is told
/// error_order() = 1 (k = 2) for every SDE step with an estimate, the calm side of both.
#pragma once

#include <memory>
#include <string_view>

#include "revode/sde/brownian_tree.hpp"
#include "revode/sde/sde_field.hpp"
#include "revode/solvers/butcher_tableau.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/solvers/reversible_stepper.hpp"

namespace revode {

/// The SdeField behind a stepper's `f`; throws revode::Error naming the solver otherwise.
template <class T>
const SdeField<T>& sde_field_or_throw(const VectorField<T>& f, std::string_view solver);

/// y' = f(t, y) + g(t, y) · rate for one step's frozen rate = ΔW / h (m × batch). The drift
/// goes through the field the stepper was given (a CountingField counts it), the diffusion
/// through the SdeField behind it.
template <class T>
class FrozenNoiseField final : public VectorField<T> {
 public:
  /// `check_finite`: g must be finite (a named error otherwise).
  void bind(const VectorField<T>& drift, const SdeField<T>& field, bool check_finite) {
    drift_ = &drift;
    field_ = &field;
    check_finite_ = check_finite;
  }
  Batch<T>& rate() { return rate_; }

  Index state_dim() const override { return field_->state_dim(); }
  Index param_count() const override { return field_->param_count(); }
  std::string name() const override { return field_->name(); }
  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  Index intermediate_floats(Index batch) const override {
    return field_->intermediate_floats(batch);
  }
  std::unique_ptr<VectorField<T>> clone() const override;

 private:
  const VectorField<T>* drift_ = nullptr;
  const SdeField<T>* field_ = nullptr;
  bool check_finite_ = true;
  Batch<T> rate_;
  mutable Batch<T> g_, g_dw_, g_bar_, y_bar_;
};

/// The smallest SDE step, in units of the Brownian tree's finest interval δ = (t1 − t0) 2^-levels:
/// below δ the tree interpolates W linearly, so an increment over a step h misses a bridge
/// variance of up to δ/2; with h ≥ 2^10 δ that is under 1/2048 of the increment's variance h.
inline constexpr double kMinStepInTreeIntervals = 0x1p10;

/// Throws StepTooShortError (step_too_short.hpp) naming the solver, the step and the tree's
/// resolution unless t1 − t0 ≥ kMinStepInTreeIntervals · δ (an adaptive solve shrinking its
/// steps below what the tree resolves, or a save time leaving a sliver of a fixed step).
void require_resolved_step(const BrownianTree& brownian, double t0, double t1,
                           std::string_view solver);

/// Throws revode::Error naming the solver unless t1 > t0: a backward step (SDE steps go
/// forward in time), or a step of zero length (ends the scalar type rounded together).
void require_forward_step(double t0, double t1, std::string_view solver);

/// Shared by the two wrappers: queries ΔW for a step and binds the frozen field.
template <class T>
class NoiseFreezer {
 public:
  explicit NoiseFreezer(std::shared_ptr<const BrownianTree> brownian);
  const BrownianTree& brownian() const { return *brownian_; }
  /// F for the step [t0, t1] over `batch` samples of the SDE field f. `forward`: a forward
  /// step, whose g must be finite (a named error). The reverse steps and VJPs of a backward
  /// walk pass false: their states are rebuilt, and when round-off grown by the inverse
  /// overflows them the reconstruction guard (which measures the drift and repairs) must see
  /// the non-finite state rather than an exception half-way through the walk.
  const VectorField<T>& freeze(const VectorField<T>& f, T t0, T t1, Index batch,
                               std::string_view solver, bool forward) const;

 private:
  std::shared_ptr<const BrownianTree> brownian_;
  mutable Batch<double> dw_;
  mutable FrozenNoiseField<T> frozen_;
};

/// Whether the embedded estimate of `tableau` on F = f + g ΔW/h sees an SDE step's leading
/// local error: only when the embedded method is Euler (b̂ = e_1: heun, midpoint, ralston2;
/// diffrax's Heun pairing). Its difference from the step then holds ½ g'g ΔW² (y-dependent
/// noise) or ½ h f' g ΔW (additive). A pair whose embedded method has order ≥ 2 (bosh3, dopri5,
/// tsit5; fehlberg2 nearly, Σ b̂_i c_i = 255/512) agrees with the step on those terms, so its
/// estimate is blind to the noise: on an Ornstein–Uhlenbeck problem bosh3 took 3 steps at
/// every tolerance from 1e-1 to 1e-3 with its error stuck at 0.06. Those take fixed steps only.
bool sde_error_estimate(const ButcherTableau& tableau);

/// Any Stepper (explicit RK) applied to f dt + g dW. No FSAL (F changes with every step's ΔW).
/// With `estimate` (sde_error_estimate of its tableau) the embedded estimate on F,
/// h Σ (b_i − b̂_i) F_i, allows adaptive steps (error_order 1); otherwise (euler =
/// Euler–Maruyama, rk4, bosh3, ...) fixed steps only (error_order 0).
template <class T>
class SdeStepper final : public Stepper<T> {
 public:
  SdeStepper(std::unique_ptr<Stepper<T>> base, std::shared_ptr<const BrownianTree> brownian,
             bool estimate);
  std::string name() const override { return base_->name() + " (SDE)"; }
  bool dense_output() const override { return false; }  // the path between steps is W's
  int order() const override { return base_->order(); }
  int error_order() const override { return estimate_ ? 1 : 0; }
  int evals_per_step() const override { return base_->evals_per_step(); }
  int state_copies() const override { return base_->state_copies(); }
  Index tape_cols(Index batch) const override { return base_->tape_cols(batch); }
  void initialize(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                  const ConstVectorRef<T>& theta, BatchRef<T> x0) const override;
  void initialize_vjp(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                      const ConstVectorRef<T>& theta, const ConstBatchRef<T>& x0_bar,
                      BatchRef<T> y0_bar, VectorRef<T> theta_bar) const override;
  void step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
            const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape, Batch<T>* error,
            bool) const override;
  void step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                const ConstVectorRef<T>& theta, const ConstBatchRef<T>& tape,
                const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                VectorRef<T> theta_bar) const override;

 private:
  std::unique_ptr<Stepper<T>> base_;
  NoiseFreezer<T> noise_;
  bool estimate_;
};

/// A ReversibleStepper (McCallum–Foster) applied to f dt + g dW: the inverse sees the same ΔW
/// as the forward step, so the exact algebraic inverse carries over. With `estimate` (the base
/// tableau's sde_error_estimate) adaptive, from the embedded estimate of McCallum–Foster's
/// backward base step, as for ODEs.
template <class T>
class ReversibleSdeStepper final : public ReversibleStepper<T> {
 public:
  ReversibleSdeStepper(std::unique_ptr<ReversibleStepper<T>> base,
                       std::shared_ptr<const BrownianTree> brownian, bool estimate);
  std::string name() const override { return base_->name() + " (SDE)"; }
  bool dense_output() const override { return false; }  // the path between steps is W's
  int order() const override { return base_->order(); }
  int error_order() const override { return estimate_ ? 1 : 0; }
  int evals_per_step() const override { return base_->evals_per_step(); }
  int state_copies() const override { return base_->state_copies(); }
  Index tape_cols(Index batch) const override { return base_->tape_cols(batch); }
  void initialize(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                  const ConstVectorRef<T>& theta, BatchRef<T> x0) const override;
  void initialize_vjp(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                      const ConstVectorRef<T>& theta, const ConstBatchRef<T>& x0_bar,
                      BatchRef<T> y0_bar, VectorRef<T> theta_bar) const override;
  void step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
            const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape, Batch<T>* error,
            bool) const override;
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
  std::unique_ptr<ReversibleStepper<T>> base_;
  NoiseFreezer<T> noise_;
  bool estimate_;
};

/// Reversible Heun for SDEs on the state (y, ẑ, f̂, ĝ) (rows d, d, d, diffusion_rows):
///   ẑ1 = 2 y0 − ẑ0 + f̂0 h + ĝ0 ΔW,   f̂1 = f(t1, ẑ1),   ĝ1 = g(t1, ẑ1),
///   y1 = y0 + ½ (f̂0 + f̂1) h + ½ (ĝ0 + ĝ1) ΔW,
/// and exactly backwards ẑ0 = 2 y1 − ẑ1 − f̂1 h − ĝ1 ΔW, then f̂0, ĝ0 at ẑ0 and
/// y0 = y1 − ½ (f̂0 + f̂1) h − ½ (ĝ0 + ĝ1) ΔW. One drift and one diffusion evaluation per
/// step either way. Stratonovich, strong order 0.5 (1 for additive noise). The state has
/// 3 + diffusion_rows / d blocks, so the stepper is made for one noise type and m.
/// Error estimate (diffrax's ReversibleHeun): ½ ((f̂1 − f̂0) h + (ĝ1 − ĝ0) ΔW), the difference
/// between y1 and the explicit step y0 + f̂0 h + ĝ0 ΔW; free, so adaptive steps cost nothing
/// extra per step.
template <class T>
class SdeReversibleHeun final : public ReversibleStepper<T> {
 public:
  SdeReversibleHeun(std::shared_ptr<const BrownianTree> brownian, NoiseType noise, Index state_dim);
  std::string name() const override { return "reversible-heun (SDE)"; }
  bool dense_output() const override { return false; }  // the path between steps is W's
  int order() const override { return 2; }
  int error_order() const override { return 1; }
  int evals_per_step() const override { return 1; }
  int state_copies() const override { return int(3 + g_rows_ / d_); }
  Index tape_cols(Index) const override { return 0; }
  void initialize(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                  const ConstVectorRef<T>& theta, BatchRef<T> x0) const override;
  void initialize_vjp(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                      const ConstVectorRef<T>& theta, const ConstBatchRef<T>& x0_bar,
                      BatchRef<T> y0_bar, VectorRef<T> theta_bar) const override;
  void step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
            const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape, Batch<T>* error,
            bool) const override;
  void step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                const ConstVectorRef<T>& theta, const ConstBatchRef<T>& tape,
                const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                VectorRef<T> theta_bar) const override;
  void reverse_step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x1,
                    const ConstVectorRef<T>& theta, BatchRef<T> x0) const override;

 private:
  /// The SDE field checked against the noise type and dimension the stepper was made for.
  const SdeField<T>& checked(const VectorField<T>& f) const;
  void increment(T t0, T t1, Index batch) const;
  /// f̂ and ĝ at (t, z) into the bottom blocks of x; ĝ checked finite when `check_finite`
  /// (forward steps; see NoiseFreezer::freeze).
  void evaluate(const VectorField<T>& f, const SdeField<T>& sde, bool check_finite, T t,
                const ConstBatchRef<T>& z, const ConstVectorRef<T>& theta, BatchRef<T> x) const;

  std::shared_ptr<const BrownianTree> brownian_;
  NoiseType noise_;
  Index d_, g_rows_;
  mutable Batch<double> dw64_;
  mutable Batch<T> dw_, g_dw_, z_, z_bar_, y_bar_, f_bar_, g_bar_;
};

/// The SDE solver called `name`: any explicit tableau ("euler" = Euler–Maruyama, "heun",
/// "midpoint", ...), "reversible:<tableau>" (McCallum–Foster), "reversible-heun" or "shark"
/// (ShARK, additive noise only, over a tree with LevyArea::space_time; shark.hpp), driven by
/// `brownian`, for `field`'s noise type. @throws revode::Error for other solvers (asynchronous
/// leapfrog and the compositions have no SDE form here), listing the accepted ones.
template <class T>
std::unique_ptr<Stepper<T>> make_sde_stepper(std::string_view name, const SolverOptions& options,
                                             std::shared_ptr<const BrownianTree> brownian,
                                             const SdeField<T>& field);

}  // namespace revode
