/// Reversible backprop: a forward solve that keeps O(1) states, then a backward walk that
/// rebuilds every step's start state by the stepper's exact inverse (see the header).
#include "revode/gradients/reversible_backprop.hpp"

#include <algorithm>

#include "revode/core/counting_field.hpp"
#include "revode/gradients/save_cotangents.hpp"
#include "revode/solvers/fixed_grid.hpp"
#include "revode/solvers/reversible_stepper.hpp"

namespace revode {
namespace {

/// Forward observer: the final state, the loss value, the save count and times, and (adaptive
/// steps only) the accepted step times t_0, t_1, …, t_N.
template <class T>
class ForwardPass final : public SolveObserver<T> {
 public:
  ForwardPass(const Loss<T>& loss, bool keep_step_times, Batch<T>& y_bar)
      : loss_(loss), keep_step_times_(keep_step_times), y_bar_(y_bar) {}
  void on_step(const StepRecord<T>& step) override {
    if (keep_step_times_) {
      if (step_times.empty()) step_times.push_back(step.t0);
      step_times.push_back(step.t1);
    }
    final_state = step.x1;
  }
  void on_save(const SaveRecord<T>& save) override {
    // The value only: the cotangent is recomputed on the way back, so none is kept.
    y_bar_.resize(save.y.rows(), save.y.cols());
    sum += loss_.term(save.k, save.t, save.y, y_bar_);
    save_times.push_back(save.t);
  }

  double sum = 0;
  Batch<T> final_state;
  std::vector<double> step_times, save_times;

 private:
  const Loss<T>& loss_;
  bool keep_step_times_;
  Batch<T>& y_bar_;
};

/// The backward walk: x1_ holds the state at the end of the step being undone, x_bar_ its
/// adjoint; each `undo` leaves them at the step's start.
template <class T>
class BackwardWalk {
 public:
  BackwardWalk(const GradientProblem<T>& p, const ReversibleStepper<T>& stepper,
               Batch<T> final_state, double scale, Batch<T>& y_bar, GradientResult<T>& out)
      : p_(p),
        stepper_(stepper),
        f_(p.field),
        axis_(p.t0, p.t1),
        scale_(scale),
        dim_(p.field.state_dim()),
        batch_(p.y0.cols()),
        x1_(std::move(final_state)),
        out_(out) {
    const Index rows = stepper.state_copies() * dim_;
    x0_.resize(rows, batch_);
    x_bar_.setZero(rows, batch_);
    x_bar_prev_.resize(rows, batch_);
    pending_.resize(dim_, batch_);
    tape_.resize(dim_, stepper.tape_cols(batch_));
    save_.y_bar.swap(y_bar);
    out_.grad_params = Vector<T>::Zero(p.theta.size());
    next_save_ = Index(p.save_at.ts.size()) - 1;
  }

  /// Undoes step n, from ta to tb.
  void undo(Index n, double ta, double tb) {
    stepper_.reverse_step_with_tape(f_, T(ta), T(tb), x1_, p_.theta, x0_, tape_);
    pending_.setZero();
    have_ends_ = false;
    // The saves `integrate` emitted when it accepted this step, newest first.
    if (p_.save_at.steps) {
      add_save(n + 1, tb, ta, tb);
    } else {
      for (; next_save_ >= 0 && axis_.beyond(p_.save_at.ts[std::size_t(next_save_)], ta);
           --next_save_)
        add_save(next_save_, p_.save_at.ts[std::size_t(next_save_)], ta, tb);
    }
    stepper_.step_vjp(f_, T(ta), T(tb), x0_, p_.theta, tape_, x_bar_, x_bar_prev_,
                      out_.grad_params);
    x_bar_prev_.topRows(dim_) += pending_;
    x_bar_.swap(x_bar_prev_);
    x1_.swap(x0_);
  }

  /// The saves at t0, the VJP of `initialize`, the reconstruction error and the counts.
  void finish(Index steps) {
    if (p_.save_at.steps) add_initial_save(0, p_.t0);
    for (; next_save_ >= 0; --next_save_)
      add_initial_save(next_save_, p_.save_at.ts[std::size_t(next_save_)]);
    out_.grad_y0.resize(dim_, batch_);
    stepper_.initialize_vjp(f_, T(p_.t0), p_.y0, p_.theta, x_bar_, out_.grad_y0, out_.grad_params);
    const auto y0 = p_.y0.template cast<double>();
    const double diff = (x1_.topRows(dim_).template cast<double>() - y0).cwiseAbs().maxCoeff();
    out_.stats.reconstruction_error = diff / std::max(y0.cwiseAbs().maxCoeff(), 1e-300);
    out_.stats.nfe += f_.nfe();
    out_.stats.nvjp += f_.nvjp();
    out_.stats.recomputed_steps = steps;
  }

  /// What the walk holds at its peak (see the header), without step times or grid splits.
  Index stored_floats() const {
    const Index rows = stepper_.state_copies() * dim_;
    const Index dense = p_.save_at.dense ? 4 * dim_ * batch_ : 0;  // f0, f1, y, VJP scratch
    return 4 * rows * batch_ + 2 * dim_ * batch_ + dim_ * stepper_.tape_cols(batch_) + dense +
           p_.field.intermediate_floats(batch_);
  }

 private:
  /// Save k at time t inside or at the end of the step (ta, tb) being undone.
  void add_save(Index k, double t, double ta, double tb) {
    const auto y0 = x0_.topRows(dim_), y1 = x1_.topRows(dim_);
    if (!(p_.save_at.dense && axis_.strictly_inside(t, ta, tb))) {
      term(k, t, y1);
      x_bar_.topRows(dim_) += save_.y_bar;
      return;
    }
    // A dense save: the interpolant needs f at both ends of the step, once per step.
    if (!have_ends_) {
      f0_.resize(dim_, batch_);
      f1_.resize(dim_, batch_);
      if (!stepper_.start_derivative(tape_, batch_, f0_)) f_.eval(T(ta), y0, p_.theta, f0_);
      f_.eval(T(tb), y1, p_.theta, f1_);
      have_ends_ = true;
    }
    const double delta = tb - ta;
    save_.s = (t - ta) / delta;
    dense_y_.resize(dim_, batch_);
    hermite_interpolate<T>(save_.s, delta, y0, f0_, y1, f1_, dense_y_);
    term(k, t, dense_y_);
    pull_back_save<T>(f_, save_, ta, tb, y0, y1, p_.theta, pending_, x_bar_.topRows(dim_),
                      out_.grad_params, scratch_);
  }

  void add_initial_save(Index k, double t) {
    term(k, t, p_.y0);  // integrate saved initialize(y0)'s first block, which is y0 itself
    x_bar_.topRows(dim_) += save_.y_bar;
  }

  /// save_.y_bar = scale · ∂ℓ_k/∂y at y.
  void term(Index k, double t, ConstBatchRef<T> y) {
    save_.t = t;
    save_.y_bar.resize(dim_, batch_);
    (void)p_.loss.term(k, t, y, save_.y_bar);  // the value was summed forwards
    save_.y_bar *= T(scale_);
  }

  const GradientProblem<T>& p_;
  const ReversibleStepper<T>& stepper_;
  CountingField<T> f_;
  TimeAxis axis_;
  double scale_;
  Index dim_, batch_;
  Batch<T> x1_, x0_, x_bar_, x_bar_prev_, pending_, tape_;
  Batch<T> f0_, f1_, dense_y_, scratch_;
  SaveCotangent<T> save_{0.0, 0, 1.0, Batch<T>()};
  bool have_ends_ = false;
  Index next_save_;
  GradientResult<T>& out_;
};

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

}  // namespace

template <class T>
GradientResult<T> ReversibleBackprop<T>::compute(const GradientProblem<T>& p) const {
  const ReversibleStepper<T>& stepper = reversible_or_throw(p.stepper);
  if (!p.save_at.steps) p.loss.check_saves(Index(p.save_at.ts.size()));
  const Index dim = p.field.state_dim(), batch = p.y0.cols();
  const auto* fixed = std::get_if<FixedSteps>(&p.control);

  Batch<T> y_bar;  // one save's cotangent, shared by both passes
  ForwardPass<T> forward(p.loss, fixed == nullptr, y_bar);
  GradientResult<T> result;
  result.stats =
      integrate(p.field, p.stepper, p.control, p.save_at, p.t0, p.t1, p.y0, p.theta, forward);
  const Index saves = Index(forward.save_times.size());
  p.loss.check_saves(saves);
  const double scale = p.loss.scale(saves, dim, batch);
  result.loss = scale * forward.sum;
  result.ts = std::move(forward.save_times);

  BackwardWalk<T> walk(p, stepper, std::move(forward.final_state), scale, y_bar, result);
  Index n = result.stats.steps;
  Index replay_floats = 0;
  if (fixed != nullptr) {
    const FixedGrid grid(*fixed, p.save_at, p.t0, p.t1);
    std::vector<std::pair<double, double>> steps;
    for (Index interval = grid.intervals() - 1; interval >= 0; --interval) {
      grid.steps_in(interval, steps);
      for (auto it = steps.rbegin(); it != steps.rend(); ++it)
        walk.undo(--n, it->first, it->second);
      replay_floats = std::max(replay_floats, 2 * Index(steps.size()));
    }
  } else {
    const auto& ts = forward.step_times;
    for (std::size_t i = ts.size() - 1; i > 0; --i) walk.undo(--n, ts[i - 1], ts[i]);
    replay_floats = Index(ts.size());
  }
  require(n == 0,
          "reversible backprop replayed {} steps of {}; the step replay is out of step "
          "with integrate (a bug)",
          result.stats.steps - n, result.stats.steps);
  walk.finish(result.stats.steps);
  result.stats.stored_floats = walk.stored_floats() + replay_floats;
  return result;
}

template class ReversibleBackprop<float>;
template class ReversibleBackprop<double>;

}  // namespace revode
