/// Reversible backprop: a forward solve that keeps O(1) states, then a backward walk that
/// rebuilds every step's start state by the stepper's exact inverse (see the header).
#include "revode/gradients/reversible_backprop.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "revode/core/counting_field.hpp"
#include "revode/gradients/recomputed_cotangents.hpp"
#include "revode/gradients/reversible_guard.hpp"
#include "revode/solvers/fixed_grid.hpp"
#include "revode/solvers/step_sequence.hpp"
#include "revode/solvers/reversible_stepper.hpp"

#include "forward_tape_scope.hpp"

namespace revode {
namespace {

/// Forward observer: the final state, the loss value and save times, and (adaptive steps
/// only) the accepted step times t_0, t_1, …, t_N.
template <class T>
class ForwardPass final : public SolveObserver<T> {
 public:
  ForwardPass(const Loss<T>& loss, const SaveAt& save_at, bool keep_step_times)
      : loss_value(loss, save_at), keep_step_times_(keep_step_times) {}
  void on_step(const StepRecord<T>& step) override {
    if (keep_step_times_) {
      if (step_times.empty()) record_step_time(step_times, step.t0);
      record_step_time(step_times, step.t1);
    }
    final_state = step.x1;
  }
  void on_save(const SaveRecord<T>& save) override { loss_value.record(save); }

  LossValue<T> loss_value;
  Batch<T> final_state;
  std::vector<double> step_times;

 private:
  bool keep_step_times_;
};

/// The MLP's forward tape over the backward walk (forward_tape_scope.hpp, step order):
/// every reverse step evaluates f at exactly the points whose VJPs it takes next (a
/// McCallum–Foster step re-runs both base steps, then pulls back their stages). The tape is
/// emptied after every step and after every evaluation whose VJP never comes (the drift
/// check, the repair's forward replays), so it holds one step's evaluations at most, whatever
/// the number of steps; a step that would need more than the bound recomputes the rest.
constexpr std::uint64_t kStepTapeBytes = std::uint64_t{1} << 20;

/// The backward walk: x1_ holds the state at the end of the step being undone, x_bar_ its
/// adjoint; each `undo` leaves them at the step's start. It is also the guard's view of the
/// walk (GuardedWalk: steps by index, for the repair), given the step times.
template <class T>
class BackwardWalk final : public GuardedWalk<T> {
 public:
  BackwardWalk(const GradientProblem<T>& p, const ReversibleStepper<T>& stepper,
               Batch<T> final_state, const Loss<T>& loss, Index saves, GradientResult<T>& out)
      : p_(p),
        stepper_(stepper),
        f_(p.field),
        saves_(p, f_, loss, saves),
        dim_(p.field.state_dim()),
        batch_(p.y0.cols()),
        x1_(std::move(final_state)),
        out_(out),
        start_cursor_(saves_.cursor()),
        forwards_(p.field, kStepTapeBytes, ForwardTapeScope<T>::Order::step) {
    const Index rows = stepper.state_copies() * dim_;
    x0_.resize(rows, batch_);
    x_bar_.setZero(rows, batch_);
    x_bar_prev_.resize(rows, batch_);
    pending_.resize(dim_, batch_);
    tape_.resize(dim_, stepper.tape_cols(batch_));
    out_.grad_params = Vector<T>::Zero(p.theta.size());
    // The VJPs add into out_.grad_params, read only by mark() and finish(): an Mlp adds its
    // wide layers' weight gradients four VJPs at a time, the same bits with a quarter of W̄'s
    // traffic (Mlp::defer_weight_gradients; docs/performance.md, lever 12).
    deferring_.emplace(p.field, out_.grad_params);
  }

  /// Undoes the step from ta to tb (the last not yet undone) by the stepper's inverse.
  void undo(double ta, double tb) {
    forwards_.drop();  // e.g. the guard's drift check, whose VJP never comes
    stepper_.reverse_step_with_tape(f_, T(ta), T(tb), x1_, p_.theta, x0_, tape_);
    ++undone_;
    pull_back(ta, tb);
  }

  /// The guard's check once every step is undone: the relative drift of the rebuilt solver
  /// state against the true x_0 = initialize(y0), every block (a reversible Heun's ŷ or an
  /// ALF's v can drift further than y). x0_ is free by now and takes x_0, so the check holds
  /// nothing extra; it costs the evaluations of `initialize` (none but ALF's one).
  double drift() {
    stepper_.initialize(f_, T(p_.t0), p_.y0, p_.theta, x0_);
    return relative_drift<T>(x1_, x0_);
  }

  /// The guard's ȳ0 cancellation (reversible_guard.hpp, "the bound") once every step is
  /// undone: the parts each block of x̄0 gives ȳ0 through initialize's VJP (a reversible
  /// Heun's f̂̄ through Jᵀ, so in ȳ0's units), against the ȳ0 that all of them and the saves at
  /// t0 make. Computed aside, so `finish` is unchanged: x̄0's copies and ȳ0 in x_bar_prev_ and
  /// pending_ (free once the steps are undone), θ̄ into scratch, the save cursor put back. It
  /// costs initialize's VJP once per block with a cotangent, plus once (reversible Heun and
  /// ALF: a VJP of f each; McCallum–Foster: none).
  double y0_cancellation() {
    const auto norm = [](const Batch<T>& b) { return b.template cast<double>().norm(); };
    Vector<T> theta_bar = Vector<T>::Zero(p_.theta.size());
    const auto y0_bar_of = [&](const Batch<T>& x0_bar) {
      stepper_.initialize_vjp(f_, T(p_.t0), p_.y0, p_.theta, x0_bar, pending_, theta_bar);
      return norm(pending_);
    };
    double parts = 0;
    for (Index b = 0; b < x_bar_.rows() / dim_; ++b) {
      if (x_bar_.middleRows(b * dim_, dim_).isZero(0)) continue;
      x_bar_prev_.setZero();
      x_bar_prev_.middleRows(b * dim_, dim_) = x_bar_.middleRows(b * dim_, dim_);
      parts += y0_bar_of(x_bar_prev_);
    }
    x_bar_prev_ = x_bar_;
    const Index cursor = saves_.cursor();
    saves_.add_initial_saves(x_bar_prev_.topRows(dim_));
    saves_.rewind(cursor);
    const double whole = y0_bar_of(x_bar_prev_);
    return revode::y0_cancellation(parts, whole, double(std::numeric_limits<T>::epsilon()));
  }

  /// The saves at t0, the VJP of `initialize` and the counts (`steps` re-run or undone).
  void finish(Index steps) {
    saves_.add_initial_saves(x_bar_.topRows(dim_));
    out_.grad_y0.resize(dim_, batch_);
    stepper_.initialize_vjp(f_, T(p_.t0), p_.y0, p_.theta, x_bar_, out_.grad_y0, out_.grad_params);
    deferring_->finish();
    out_.stats.reconstruction_error = relative_drift<T>(x1_.topRows(dim_), p_.y0);
    out_.stats.nfe += f_.nfe();
    out_.stats.nvjp += f_.nvjp();
    out_.stats.recomputed_steps = steps;
  }

  /// The true start state x_0 = initialize(y0), for the repair's anchors.
  Batch<T> initial_state() {
    Batch<T> x(x0_.rows(), batch_);
    stepper_.initialize(f_, T(p_.t0), p_.y0, p_.theta, x);
    return x;
  }

  /// What the walk holds at its peak (see the header), without step times or grid splits.
  Index stored_floats() const override {
    const Index rows = stepper_.state_copies() * dim_;
    return 4 * rows * batch_ + dim_ * batch_ + dim_ * stepper_.tape_cols(batch_) +
           saves_.stored_floats() + p_.field.intermediate_floats(batch_) + snapshot_floats() +
           forwards_.peak_floats() + deferring_->floats(batch_);
  }

  // GuardedWalk: steps by index through the step times of the repair.
  void use_times(const StepSequence& times) { times_ = &times; }
  Index steps() const override { return times_->steps(); }
  void advance(Index n, Batch<T>& x) override {
    scratch_.resize(x.rows(), x.cols());
    stepper_.step(f_, T(t(n)), T(t(n + 1)), x, p_.theta, scratch_, tape_, nullptr, false);
    forwards_.drop();  // a replay: no VJP comes for these
    x.swap(scratch_);
    ++replayed_;
  }
  void undo_by_inverse(Index n) override { undo(t(n), t(n + 1)); }
  void undo_from(Index n, const ConstBatchRef<T>& x_n) override {
    forwards_.drop();
    x0_ = x_n;
    scratch_.resize(x0_.rows(), x0_.cols());
    stepper_.step(f_, T(t(n)), T(t(n + 1)), x0_, p_.theta, scratch_, tape_, nullptr, false);
    ++replayed_;
    pull_back(t(n), t(n + 1));
  }
  Batch<T>& current() override { return x1_; }
  void mark() override {
    deferring_->flush();
    mark_x_bar_ = x_bar_;
    mark_grad_ = out_.grad_params;
    mark_cursor_ = saves_.cursor();
  }
  void rewind() override {
    deferring_->drop();  // the terms of steps after the mark, which are undone again
    x_bar_ = mark_x_bar_;
    out_.grad_params = mark_grad_;
    saves_.rewind(mark_cursor_);
  }
  void restart() override {
    deferring_->drop();
    x_bar_.setZero();
    out_.grad_params.setZero();
    saves_.rewind(start_cursor_);
  }
  /// Steps undone by the inverse, and forward steps re-run by the repair (anchors and
  /// recomputed segments).
  Index undone() const { return undone_; }
  Index replayed() const { return replayed_; }

 private:
  double t(Index n) const { return (*times_)[n]; }
  Index snapshot_floats() const { return mark_x_bar_.size() + mark_grad_.size() + scratch_.size(); }

  /// The saves of step (ta, tb) and its VJP, with x0_ the step's start and x1_ its end; then
  /// moves to the step's start.
  void pull_back(double ta, double tb) {
    pending_.setZero();
    saves_.add_step_saves(ta, tb, x0_.topRows(dim_), x1_.topRows(dim_), tape_, pending_,
                          x_bar_.topRows(dim_), out_.grad_params);
    stepper_.step_vjp(f_, T(ta), T(tb), x0_, p_.theta, tape_, x_bar_, x_bar_prev_,
                      out_.grad_params);
    x_bar_prev_.topRows(dim_) += pending_;
    x_bar_.swap(x_bar_prev_);
    x1_.swap(x0_);
    forwards_.drop();
  }

  const GradientProblem<T>& p_;
  const ReversibleStepper<T>& stepper_;
  CountingField<T> f_;
  SaveWalk<T> saves_;
  Index dim_, batch_;
  Batch<T> x1_, x0_, x_bar_, x_bar_prev_, pending_, tape_;
  GradientResult<T>& out_;
  const StepSequence* times_ = nullptr;
  Batch<T> scratch_, mark_x_bar_;
  Vector<T> mark_grad_;
  Index start_cursor_, mark_cursor_ = 0, undone_ = 0, replayed_ = 0;
  ForwardTapeScope<T> forwards_;
  std::optional<DeferWeightGradients<T>> deferring_;  // of out_.grad_params, set in the body
};

constexpr const char* kAdvice =
    "Use fewer steps, float64, a coupling λ closer to 1 (McCallum–Foster, --coupling), "
    "damping η = 1 (ALF, --damping), or a checkpointed method (checkpoint:C).";

template <class T>
const ReversibleStepper<T>& reversible_or_throw(const Stepper<T>& stepper) {
  const auto* reversible = dynamic_cast<const ReversibleStepper<T>*>(&stepper);
  require(reversible != nullptr,
          "gradient method 'reversible' needs an algebraically reversible solver, but '{}' is "
          "not one; use reversible:<tableau> (McCallum–Foster over any tableau, e.g. "
          "reversible:dopri5), reversible-heun or alf",
          stepper.name());
  return *reversible;
}

/// What the forward half leaves for the backward walk (see ForwardPass).
template <class T>
struct ReversibleRecord final : ForwardRecord<T> {
  Batch<T> final_state;
  std::vector<double> step_times;
  Index saves = 0;
};

}  // namespace

template <class T>
std::unique_ptr<ForwardRecord<T>> ReversibleBackprop<T>::forward(const GradientProblem<T>& p,
                                                               SolveObserver<T>* saves) const {
  (void)reversible_or_throw(p.stepper);
  const Index dim = p.field.state_dim(), batch = p.y0.cols();
  const auto* fixed = std::get_if<FixedSteps>(&p.control);

  ForwardPass<T> pass(p.loss, p.save_at, fixed == nullptr);
  TeeObserver<T> observer(pass, saves);
  auto record = std::make_unique<ReversibleRecord<T>>();
  record->stats =
      integrate(p.field, p.stepper, p.control, p.save_at, p.t0, p.t1, p.y0, p.theta, observer);
  record->loss = pass.loss_value.finish(dim, batch);
  record->saves = pass.loss_value.saves();
  record->ts = pass.loss_value.take_times();
  record->final_state = std::move(pass.final_state);
  record->step_times = std::move(pass.step_times);
  return record;
}

template <class T>
GradientResult<T> ReversibleBackprop<T>::backward(const GradientProblem<T>& p,
                                                  ForwardRecord<T>& base,
                                                  const Loss<T>& loss) const {
  const ReversibleStepper<T>& stepper = reversible_or_throw(p.stepper);
  auto& record = this->template take_record<ReversibleRecord<T>>(base);
  const auto* fixed = std::get_if<FixedSteps>(&p.control);
  GradientResult<T> result = this->result_from(record);

  BackwardWalk<T> walk(p, stepper, std::move(record.final_state), loss, record.saves, result);
  Index n = result.stats.steps;
  Index replay_floats = 0;
  if (fixed != nullptr) {
    const FixedGrid grid(*fixed, p.save_at, p.t0, p.t1);
    std::vector<std::pair<double, double>> steps;
    for (Index interval = grid.intervals() - 1; interval >= 0; --interval) {
      grid.steps_in(interval, steps);
      for (auto it = steps.rbegin(); it != steps.rend(); ++it, --n) walk.undo(it->first, it->second);
      replay_floats = std::max(replay_floats, 2 * Index(steps.size()));
    }
  } else {
    const auto& ts = record.step_times;
    for (std::size_t i = ts.size() - 1; i > 0; --i, --n) walk.undo(ts[i - 1], ts[i]);
    replay_floats = Index(ts.size());
  }
  require(n == 0,
          "reversible backprop replayed {} steps of {}; the step replay is out of step "
          "with integrate (a bug)",
          result.stats.steps - n, result.stats.steps);
  result.stats.stored_floats = walk.stored_floats() + replay_floats;

  // The guard: the first walk's gradient stands only if it rebuilt y0 closely enough for its
  // ȳ0's cancellation (see reversible_guard.hpp).
  const double eps = double(std::numeric_limits<T>::epsilon());
  const double drift = walk.drift();
  const std::string what = fmt::format("reversible backprop over {}", stepper.name());
  const double tolerance = guard_.tolerance_for<T>();
  GuardStats& guard = result.stats.guard;
  double cancellation = walk.y0_cancellation();
  double worst_drift = drift;
  if (!guard_accepts(guard_.policy, tolerance, eps, drift, result.stats.steps, what, kAdvice,
                     guard, cancellation)) {
    StepSequence times = fixed ? StepSequence::fixed(*fixed, p.save_at, p.t0, p.t1)
                               : StepSequence::recorded(p.t0);
    if (!fixed)
      for (std::size_t i = 1; i < record.step_times.size(); ++i) times.record(record.step_times[i]);
    walk.use_times(times);
    // The cancellation the segments are held to is the first walk's; measured again on the
    // repaired x̄0 (the first walk's can be far off when it drifted far), it may ask for
    // another repair with the finer target. A second pass normally settles it (the repaired
    // x̄0 is within the tolerance); a third is the limit.
    for (int pass = 0; pass < 3; ++pass) {
      const Index repair_floats = guard_repair<T>(
          walk, walk.initial_state(), guard_target(tolerance, cancellation, eps), eps, drift, guard);
      result.stats.stored_floats = std::max(result.stats.stored_floats, repair_floats +
                                            replay_floats + times.stored_floats());
      worst_drift = guard.gradient_error_bound;
      const double held_to = cancellation;
      cancellation = walk.y0_cancellation();
      guard.y0_cancellation = cancellation;
      guard.gradient_error_bound = worst_drift * cancellation;
      if (guard.gradient_error_bound <= tolerance || cancellation <= held_to) break;
    }
    // Not met (the cancellation kept growing, or it asks for less than guard_target's floor):
    // returned, but flagged.
    if (guard.gradient_error_bound > tolerance) guard.flagged = true;
  }
  walk.finish(walk.undone() + walk.replayed());
  if (guard.repaired) result.stats.reconstruction_error = worst_drift;
  return result;
}

template class ReversibleBackprop<float>;
template class ReversibleBackprop<double>;

}  // namespace revode
