/// Loss cotangents recomputed on the way back instead of kept from the forward solve: the
/// forward pass sums the loss value only (LossValue), and the backward walk finds the saves
/// that fell in each step and evaluates ∂ℓ_k/∂y_k on the states it holds at the step's ends
/// (SaveWalk). Methods that rebuild or re-run every step — reversible backprop, checkpointing,
/// the symplectic adjoint — thereby keep no per-save memory, so with the loss at every step
/// their memory stays what their states need (O(1), O(C)). Direct backprop keeps the
/// forward's saved states and evaluates their cotangents itself, which makes it an independent
/// reference for these. The cotangents come from the loss given to the backward half (the
/// problem's own, or e.g. a CotangentLoss), never from the forward.
#pragma once

#include <utility>
#include <vector>

#include "revode/gradients/gradient_method.hpp"
#include "revode/gradients/save_cotangents.hpp"
#include "revode/solvers/fixed_grid.hpp"

namespace revode {

/// Forward half: Σ_k ℓ_k and the save times, as `integrate` reports the saves.
template <class T>
class LossValue {
 public:
  /// Checks the number of saves against the loss up front when it is known before the solve.
  LossValue(const Loss<T>& loss, const SaveAt& save_at);
  void record(const SaveRecord<T>& save);
  /// Checks the number of saves; sets scale() and returns the loss, scale · Σ_k ℓ_k.
  double finish(Index dim, Index batch);

  double scale() const { return scale_; }
  /// The number of saves recorded.
  Index saves() const { return saves_; }
  /// The save times, moved out (a solve of a million steps saves 8 MB of them).
  std::vector<double> take_times() { return std::move(times_); }

 private:
  const Loss<T>& loss_;
  double sum_ = 0, scale_ = 1;
  Index saves_ = 0;
  std::vector<double> times_;
  Batch<T> y_bar_;  // ℓ_k's gradient, computed by term() and discarded
};

/// Backward half: the saves `integrate` emitted, step by step from the last, with their
/// cotangents scale · ∂ℓ_k/∂y_k recomputed from the step's end states. The save-to-step
/// assignment mirrors `integrate`: SaveAt::every_step puts save n + 1 at the end of step n;
/// a list of times puts each time in the step it falls in (at its end when the solve lands
/// there, inside it through the Hermite interpolant with dense output), and times within
/// the snap tolerance of t0 at the initial state.
template <class T>
class SaveWalk {
 public:
  /// `loss` gives the cotangents (the problem's loss, or the one given to a method's backward
  /// half); `saves` is the number of saves the forward half recorded (it fixes the loss
  /// scale); `f` is the field the dense saves' evaluations and VJPs go through (a
  /// CountingField). Throws revode::Error when the loss does not fit that many saves.
  SaveWalk(const GradientProblem<T>& problem, const VectorField<T>& f, const Loss<T>& loss,
           Index saves);

  /// Adds the cotangents of the saves in step (ta → tb), whose state blocks are y0 → y1,
  /// newest first: an endpoint save to y1_bar; a dense save to both y0_bar and y1_bar (one
  /// evaluation and one VJP of f at each end). `tape`, when it has columns, is the step's
  /// tape, whose first stage may give f(ta, y0) for free. Steps must come last to first.
  void add_step_saves(double ta, double tb, const ConstBatchRef<T>& y0, const ConstBatchRef<T>& y1,
                      const ConstBatchRef<T>& tape, BatchRef<T> y0_bar, BatchRef<T> y1_bar,
                      VectorRef<T> theta_bar);
  /// The saves left, at the initial time (y = y0), into y0_bar. Call once, after every step.
  void add_initial_saves(BatchRef<T> y0_bar);
  /// The walk's position (the newest save not yet added), and a return to one: a caller that
  /// walks a stretch of steps twice (the reversible guard's repair) rewinds to its start.
  Index cursor() const { return next_save_; }
  void rewind(Index cursor) {
    next_save_ = cursor;
    have_ends_ = carried_end_ = false;
  }
  /// Scalars held at the peak: the cotangent, and for dense output f at both ends, the
  /// interpolated state and the VJP scratch (scaled cotangent and result).
  Index stored_floats() const;

 private:
  /// Save k at time t in step (ta, tb): its cotangent into the step's end adjoints.
  void add_save(Index k, double t, double ta, double tb, const ConstBatchRef<T>& y0,
                const ConstBatchRef<T>& y1, const ConstBatchRef<T>& tape, BatchRef<T> y0_bar,
                BatchRef<T> y1_bar, VectorRef<T> theta_bar);
  /// save_.y_bar = scale · ∂ℓ_k/∂y at y.
  void cotangent(Index k, double t, const ConstBatchRef<T>& y);

  const GradientProblem<T>& p_;
  const VectorField<T>& f_;
  const Loss<T>& loss_;
  double scale_;
  TimeAxis axis_;
  Index dim_, batch_;
  Index next_save_;  ///< the newest save not yet added (k), −1 once all are
  /// f at the step's ends (once per step with dense saves) from the tape, from the later
  /// step's start slope, or by evaluation.
  void step_ends(double ta, double tb, const ConstBatchRef<T>& y0, const ConstBatchRef<T>& y1,
                 const ConstBatchRef<T>& tape);

  bool have_ends_ = false;
  /// f0_ holds f(carried_t_, carried_y_), the later step's start slope: the next (earlier)
  /// step's end slope when it ends at those bits.
  bool carried_end_ = false;
  double carried_t_ = 0;
  SaveCotangent<T> save_{0.0, 0, 1.0, Batch<T>()};
  Batch<T> f0_, f1_, dense_y_, scratch_, carried_y_;
};

extern template class LossValue<float>;
extern template class LossValue<double>;
extern template class SaveWalk<float>;
extern template class SaveWalk<double>;

}  // namespace revode
