/// The one interface every gradient method implements: given a problem (field, solver, step
/// control, save-at, loss), return the loss, ∂L/∂θ, ∂L/∂y0 and statistics. Methods differ only
/// in what they store and what they recompute (STYLE.md E6).
///
/// Every method is split into halves (DESIGN.md): `forward` solves and keeps what the method
/// keeps (tapes, checkpoints, the final reversible state, step times) in a ForwardRecord;
/// `backward` takes the cotangents ∂L/∂y_k at the saves from a loss and walks back. `compute`
/// is the two in a row, so a front end that learns the cotangents only after the forward
/// (revode.torch: autograd's grad_outputs, through CotangentLoss) runs the same code path.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "revode/core/error.hpp"
#include "revode/core/stats.hpp"
#include "revode/gradients/loss.hpp"
#include "revode/solvers/integrate.hpp"

namespace revode {

template <class T>
struct GradientProblem {
  const VectorField<T>& field;
  const Stepper<T>& stepper;
  StepControl control;
  SaveAt save_at;
  double t0, t1;
  // Owned copies, not views: a view would dangle when built from a temporary, and copying a
  // parameter vector costs nothing next to a solve.
  Batch<T> y0;       ///< state_dim × batch
  Vector<T> theta;   ///< param_count
  const Loss<T>& loss;
};

template <class T>
struct GradientResult {
  double loss = 0;
  Vector<T> grad_params;   ///< ∂L/∂θ
  Batch<T> grad_y0;        ///< ∂L/∂y0, state_dim × batch
  std::vector<double> ts;  ///< the save times reached
  SolveStats stats;
  /// parallel_gradient over several chunks: each chunk's stats in column order (per-sample
  /// steps: one per sample); empty otherwise.
  std::vector<SolveStats> chunk_stats;
};

/// What a method's forward half keeps for its backward half (tapes, checkpoints, the final
/// reversible state, step times), plus what the forward reports. Method-specific subclasses.
template <class T>
struct ForwardRecord {
  virtual ~ForwardRecord() = default;
  double loss = 0;          ///< the forward's loss value (from problem.loss)
  std::vector<double> ts;   ///< save times reached
  SolveStats stats;         ///< the forward solve's stats
  bool backward_done = false;  ///< set by the backward half: a record is used once
};

/// An observer that forwards every step and save to two others (the method's own and the
/// caller's `saves` observer of `forward`).
template <class T>
class TeeObserver final : public SolveObserver<T> {
 public:
  TeeObserver(SolveObserver<T>& first, SolveObserver<T>* second) : first_(first), second_(second) {}
  void on_step(const StepRecord<T>& step) override {
    first_.on_step(step);
    if (second_ != nullptr) second_->on_step(step);
  }
  void on_save(const SaveRecord<T>& save) override {
    first_.on_save(save);
    if (second_ != nullptr) second_->on_save(save);
  }

 private:
  SolveObserver<T>& first_;
  SolveObserver<T>* second_;
};

template <class T>
class GradientMethod {
 public:
  virtual ~GradientMethod() = default;
  virtual std::string name() const = 0;
  /// Forward half: solve, keep what the backward half needs. `saves`, when non-null, also
  /// sees every save (the torch front end returns the saved states). The problem must outlive
  /// the record.
  virtual std::unique_ptr<ForwardRecord<T>> forward(const GradientProblem<T>& p,
                                                    SolveObserver<T>* saves = nullptr) const = 0;
  /// Backward half: cotangents ∂L/∂y_k at the saves from `loss` (for compute: p.loss; for
  /// torch: a CotangentLoss holding the given ones), evaluated only here, never in forward.
  /// The result's loss, ts and stats are the forward's, with the backward's counts added.
  /// @throws revode::Error on a second call with the same record ("backward called twice") or
  /// a record from another method.
  virtual GradientResult<T> backward(const GradientProblem<T>& p, ForwardRecord<T>& record,
                                     const Loss<T>& loss) const = 0;
  /// forward then backward with p.loss: one code path.
  GradientResult<T> compute(const GradientProblem<T>& p) const {
    const std::unique_ptr<ForwardRecord<T>> record = forward(p);
    return backward(p, *record, p.loss);
  }

 protected:
  /// The method's own record type, marked used; throws on a second use or a foreign record.
  template <class Record>
  Record& take_record(ForwardRecord<T>& record) const {
    auto* own = dynamic_cast<Record*>(&record);
    require(own != nullptr, "{}: backward was given the forward record of another gradient method",
            name());
    require(!own->backward_done,
            "{}: backward called twice on one forward record (a forward solve's record is "
            "consumed by its backward pass; run forward again)",
            name());
    own->backward_done = true;
    return *own;
  }
  /// A result carrying the forward's loss, save times and stats.
  static GradientResult<T> result_from(ForwardRecord<T>& record) {
    GradientResult<T> result;
    result.loss = record.loss;
    result.ts = record.ts;
    result.stats = record.stats;
    return result;
  }
};

}  // namespace revode
