/// The integration loop: fixed grids and adaptive steps, save-at by landing on the save times
/// or by dense output, statistics, and failures reported with the time reached.
#include "revode/solvers/integrate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "revode/core/allocation_limit.hpp"
#include "revode/core/counting_field.hpp"
#include "revode/core/status.hpp"
#include "revode/solvers/fixed_grid.hpp"
#include "revode/solvers/initial_step.hpp"
#include "revode/solvers/step_too_short.hpp"

namespace revode {

std::array<double, 4> hermite_weights(double s) {
  const double s2 = s * s, s3 = s2 * s;
  return {2 * s3 - 3 * s2 + 1, s3 - 2 * s2 + s, -2 * s3 + 3 * s2, s3 - s2};
}

template <class T>
void hermite_interpolate(double s, double delta, const ConstBatchRef<T>& y0,
                         const ConstBatchRef<T>& f0, const ConstBatchRef<T>& y1,
                         const ConstBatchRef<T>& f1, BatchRef<T> out) {
  const auto w = hermite_weights(s);
  out = T(w[0]) * y0 + T(w[1] * delta) * f0 + T(w[2]) * y1 + T(w[3] * delta) * f1;
}

template <class T>
void validate_inputs(const VectorField<T>& f, const ConstBatchRef<T>& y0,
                     const ConstVectorRef<T>& theta) {
  require(y0.rows() == f.state_dim(),
          "y0 has {} rows; the field '{}' has state dimension {} (y0 is state_dim × batch)",
          y0.rows(), f.name(), f.state_dim());
  require(y0.cols() >= 1, "y0 has batch size {}; required: >= 1", y0.cols());
  require(all_finite(y0), "y0 contains NaN or Inf");
  require(theta.size() == f.param_count(),
          "parameter vector has {} entries; the field '{}' has {} parameters", theta.size(),
          f.name(), f.param_count());
  require(all_finite(theta), "the parameters contain NaN or Inf");
}

namespace {

/// What solve() and every gradient method keep per save (one state of the batch, at least),
/// checked before the first step: a count of save times from the input must not end in
/// std::bad_alloc after a long forward solve.
template <class T>
void require_saves_fit(const StepControl& control, const SaveAt& save_at, Index dim, Index batch) {
  const auto* fixed = std::get_if<FixedSteps>(&control);
  if (save_at.steps && fixed != nullptr && fixed->steps > 0)
    require_memory("steps (saving every step)", fixed->steps,
                   {fixed->steps, dim, batch, Index(sizeof(T))});
  else if (!save_at.steps)
    require_memory("save times", save_at.ts.size(),
                   {Index(save_at.ts.size()), dim, batch, Index(sizeof(T))});
}

/// The state of one integration; one method per phase keeps each piece short.
template <class T>
class Integration {
 public:
  Integration(const VectorField<T>& f, const Stepper<T>& stepper, const SaveAt& save_at, double t0,
              double t1, const ConstBatchRef<T>& y0, const ConstVectorRef<T>& theta,
              SolveObserver<T>& observer)
      : f_(f),
        stepper_(stepper),
        save_(save_at),
        t0_(t0),
        t1_(t1),
        theta_(theta),
        observer_(observer),
        direction_(TimeAxis(t0, t1).direction),
        snap_(TimeAxis(t0, t1).snap),
        dim_(y0.rows()),
        batch_(y0.cols()) {
    require(!save_at.dense || stepper.dense_output(),
            "{}: dense output does not apply (its path between steps is not the interpolant of "
            "f at the steps' ends); let the save times split the steps instead",
            stepper.name());
    const Index rows = stepper.state_copies() * dim_;
    x0_.resize(rows, batch_);
    x1_.resize(rows, batch_);
    tape_.resize(dim_, stepper.tape_cols(batch_));
    stepper_.initialize(f_, T(t0), y0, theta_, x0_);
    emit_initial_saves();
  }

  void run_fixed(const FixedSteps& fixed);
  void run_adaptive(const AdaptiveSteps& adaptive);
  SolveStats stats() const {
    SolveStats s = stats_;
    s.nfe = f_.nfe();
    return s;
  }

 private:
  auto y(Batch<T>& x) const { return x.topRows(dim_); }
  bool pending_save() const { return !save_.steps && next_save_ < save_.ts.size(); }
  double next_save_time() const { return save_.ts[next_save_]; }
  /// ts strictly between a and b, beyond the snapping tolerance.
  bool strictly_inside(double ts, double a, double b) const {
    return direction_ * (ts - a) > snap_ && direction_ * (b - ts) > snap_;
  }

  void emit_initial_saves();
  void emit(double t, const ConstBatchRef<T>& y, Index step, double s);
  void emit_dense(double t, double ta, double tb);
  void take_step(double ta, double tb, Batch<T>* error);
  void accept(double ta, double tb);
  double error_norm(const AdaptiveSteps& a) const;

  CountingField<T> f_;
  const Stepper<T>& stepper_;
  const SaveAt& save_;
  double t0_, t1_;
  ConstVectorRef<T> theta_;
  SolveObserver<T>& observer_;
  double direction_, snap_;
  Index dim_, batch_;
  Batch<T> x0_, x1_, tape_, error_, dense_y_, f0_, f1_;
  bool have_ends_ = false;      // f0_, f1_ hold f at this step's ends
  bool carried_start_ = false;  // f1_ holds f(carried_t_, y0), the last step's end
  double carried_t_ = 0;
  bool first_stage_ready_ = false;
  std::size_t next_save_ = 0;
  Index saved_ = 0;
  SolveStats stats_;
};

template <class T>
void Integration<T>::emit(double t, const ConstBatchRef<T>& y, Index step, double s) {
  observer_.on_save(SaveRecord<T>{saved_++, t, y, step, s});
}

template <class T>
void Integration<T>::emit_initial_saves() {
  if (save_.steps) emit(t0_, y(x0_), -1, 0.0);
  while (pending_save() && direction_ * (next_save_time() - t0_) <= snap_) {
    emit(next_save_time(), y(x0_), -1, 0.0);
    ++next_save_;
  }
}

template <class T>
void Integration<T>::emit_dense(double t, double ta, double tb) {
  if (!have_ends_) {  // f at both ends, once per step that holds dense saves
    f0_.resize(dim_, batch_);
    f1_.resize(dim_, batch_);
    // f(ta, y0): the tape's first stage, or the last step's f(tb, y1) when that step held
    // dense saves too (the same point's bits), or one evaluation.
    if (!stepper_.start_derivative(tape_, batch_, f0_)) {
      if (carried_start_ && carried_t_ == ta) f0_.swap(f1_);
      else f_.eval(T(ta), y(x0_), theta_, f0_);
    }
    if (!stepper_.end_derivative(tape_, y(x1_), f1_)) f_.eval(T(tb), y(x1_), theta_, f1_);
    have_ends_ = true;
  }
  const double delta = tb - ta;
  dense_y_.resize(dim_, batch_);
  hermite_interpolate<T>((t - ta) / delta, delta, y(x0_), f0_, y(x1_), f1_, dense_y_);
  emit(t, dense_y_, stats_.steps, (t - ta) / delta);
}

template <class T>
void Integration<T>::take_step(double ta, double tb, Batch<T>* error) {
  stepper_.step(f_, T(ta), T(tb), x0_, theta_, x1_, tape_, error, first_stage_ready_);
}

template <class T>
void Integration<T>::accept(double ta, double tb) {
  observer_.on_step(StepRecord<T>{stats_.steps, ta, tb, x0_, x1_, tape_});
  have_ends_ = false;
  if (save_.steps) emit(tb, y(x1_), stats_.steps, 1.0);
  while (pending_save() && direction_ * (next_save_time() - tb) <= snap_) {
    const double ts = next_save_time();
    if (save_.dense && strictly_inside(ts, ta, tb)) emit_dense(ts, ta, tb);
    else emit(ts, y(x1_), stats_.steps, 1.0);
    ++next_save_;
  }
  carried_start_ = have_ends_;  // f1_ = f(tb, y1), the next step's f(ta, y0)
  carried_t_ = tb;
  if (stepper_.fsal()) stepper_.carry_fsal(tape_);
  first_stage_ready_ = stepper_.fsal();
  x0_.swap(x1_);
  ++stats_.steps;
}

template <class T>
void Integration<T>::run_fixed(const FixedSteps& fixed) {
  // The grid (with save times splitting its intervals) is shared with the gradient methods
  // that replay the steps backwards, so both see the same floats.
  const FixedGrid grid(fixed, save_, t0_, t1_);
  std::vector<std::pair<double, double>> steps;
  for (Index n = 0; n < grid.intervals(); ++n) {
    grid.steps_in(n, steps);
    for (const auto& [ta, tb] : steps) {
      take_step(ta, tb, nullptr);
      if (!all_finite(x1_)) throw SolveError(Status::non_finite_state, ta, "");
      accept(ta, tb);
    }
  }
}

template <class T>
double Integration<T>::error_norm(const AdaptiveSteps& a) const {
  if (!all_finite(x1_) || !all_finite(error_)) return INFINITY;
  // A seminorm (norm_rows > 0) measures the leading rows only.
  const Index rows = a.norm_rows > 0 ? std::min(a.norm_rows, dim_) : dim_;
  const auto y0 = x0_.topRows(rows).template cast<double>().array().abs();
  const auto y1 = x1_.topRows(rows).template cast<double>().array().abs();
  const auto scale = a.atol + a.rtol * y0.max(y1);
  return std::sqrt((error_.topRows(rows).template cast<double>().array() / scale).square().mean());
}

template <class T>
void Integration<T>::run_adaptive(const AdaptiveSteps& a) {
  // SDE steps are the steppers without dense output; their estimate must see the noise.
  require(stepper_.error_order() > 0,
          "solver '{}' has no embedded error estimate that adaptive steps can use; give a "
          "number of steps, or use e.g. {}",
          stepper_.name(),
          stepper_.dense_output()
              ? "bosh3, dopri5 or tsit5"
              : "heun, midpoint, ralston2, reversible-heun or reversible:heun (SDEs: an "
                "estimate must see the noise; docs/sde.md)");
  PidController controller(a.pid);
  double h = a.dt0;
  if (h == 0) {
    Batch<T> f0(dim_, batch_);
    f_.eval(T(t0_), y(x0_), theta_, f0);
    if (!all_finite(f0)) throw SolveError(Status::non_finite_state, t0_, " (f(t0, y0) is not finite)");
    h = initial_step<T>(f_, t0_, t1_, y(x0_), f0, theta_, stepper_.order(), a.rtol, a.atol);
    if (!std::isfinite(h) || h <= 0)
      throw SolveError(Status::non_finite_state, t0_, " (no finite first step: f is not finite near y0)");
  }
  h *= direction_;
  double t = t0_;
  bool last_rejection_non_finite = false;
  // Times are doubles, but the field sees them in T: a step shorter than T's resolution at t
  // would be a step of length zero.
  const double resolution = 4 * std::numeric_limits<T>::epsilon();
  while (direction_ * (t1_ - t) > 0) {
    if (stats_.steps + stats_.rejected >= a.max_steps) {
      if (last_rejection_non_finite) throw SolveError(Status::non_finite_state, t, "");
      throw SolveError(Status::max_steps_reached, t, fmt::format(" (max_steps = {})", a.max_steps));
    }
    double tb = t + h;
    bool clipped = false;
    if (direction_ * (tb - t1_) >= -snap_) tb = t1_, clipped = true;
    if (!save_.dense && pending_save() && direction_ * (tb - next_save_time()) >= -snap_)
      tb = next_save_time(), clipped = true;
    if (std::abs(tb - t) < std::max(a.dtmin, resolution * std::abs(t)) || T(tb) == T(t)) {
      if (last_rejection_non_finite) throw SolveError(Status::non_finite_state, t, "");
      throw SolveError(Status::step_size_underflow, t,
                       fmt::format(" (step {} < dtmin = {})", tb - t, a.dtmin));
    }
    try {
      take_step(t, tb, &error_);
    } catch (const StepTooShortError&) {
      // Rejections for NaN/Inf states shrank the step this far: the state is at fault, not
      // the tolerance the stepper's message would have the user loosen.
      if (!last_rejection_non_finite) throw;
      throw SolveError(Status::non_finite_state, t,
                       fmt::format(" (every retry was NaN or Inf, down to a step of {} that "
                                   "{} refuses as too short)",
                                   tb - t, stepper_.name()));
    }
    const double norm = error_norm(a);
    const StepDecision decision = controller.decide(norm, stepper_.error_order());
    if (!decision.accept) {
      ++stats_.rejected;
      last_rejection_non_finite = !std::isfinite(norm);
      h = decision.factor * (tb - t);
      continue;
    }
    accept(t, tb);
    const double h_next = decision.factor * (tb - t);
    h = clipped ? direction_ * std::max(std::abs(h_next), std::abs(h)) : h_next;
    t = tb;
  }
}

/// Keeps every saved state (the observer behind `solve`).
template <class T>
class KeepSaves final : public SolveObserver<T> {
 public:
  explicit KeepSaves(Solution<T>& out) : out_(out) {}
  void on_save(const SaveRecord<T>& save) override {
    out_.ts.push_back(save.t);
    out_.ys.emplace_back(save.y);
  }

 private:
  Solution<T>& out_;
};

}  // namespace

template <class T>
SolveStats integrate(const VectorField<T>& f, const Stepper<T>& stepper, const StepControl& control,
                     const SaveAt& save_at, double t0, double t1,
                     const NonDeduced<ConstBatchRef<T>>& y0,
                     const NonDeduced<ConstVectorRef<T>>& theta, SolveObserver<T>& observer) {
  validate_inputs(f, y0, theta);
  require(std::isfinite(t0) && std::isfinite(t1) && std::isfinite(t1 - t0) && t0 != t1,
          "time interval [t0, t1] = [{}, {}]; required: finite, with a finite length, and "
          "t0 != t1", t0, t1);
  validate(control);
  validate(save_at, t0, t1);
  require_saves_fit<T>(control, save_at, y0.rows(), y0.cols());
  Integration<T> run(f, stepper, save_at, t0, t1, y0, theta, observer);
  if (const auto* fixed = std::get_if<FixedSteps>(&control)) run.run_fixed(*fixed);
  else run.run_adaptive(std::get<AdaptiveSteps>(control));
  return run.stats();
}

template <class T>
Solution<T> solve(const VectorField<T>& f, const Stepper<T>& stepper, const StepControl& control,
                  const SaveAt& save_at, double t0, double t1,
                  const NonDeduced<ConstBatchRef<T>>& y0,
                  const NonDeduced<ConstVectorRef<T>>& theta) {
  Solution<T> out;
  KeepSaves<T> keep(out);
  out.stats = integrate(f, stepper, control, save_at, t0, t1, y0, theta, keep);
  return out;
}

#define REVODE_INSTANTIATE(T)                                                                    \
  template void hermite_interpolate<T>(double, double, const ConstBatchRef<T>&,                  \
                                       const ConstBatchRef<T>&, const ConstBatchRef<T>&,         \
                                       const ConstBatchRef<T>&, BatchRef<T>);                    \
  template void validate_inputs<T>(const VectorField<T>&, const ConstBatchRef<T>&,               \
                                   const ConstVectorRef<T>&);                                    \
  template SolveStats integrate<T>(const VectorField<T>&, const Stepper<T>&, const StepControl&, \
                                   const SaveAt&, double, double, const ConstBatchRef<T>&,       \
                                   const ConstVectorRef<T>&, SolveObserver<T>&);                 \
  template Solution<T> solve<T>(const VectorField<T>&, const Stepper<T>&, const StepControl&,    \
                                const SaveAt&, double, double, const ConstBatchRef<T>&,          \
                                const ConstVectorRef<T>&);
REVODE_INSTANTIATE(float)
REVODE_INSTANTIATE(double)
#undef REVODE_INSTANTIATE

}  // namespace revode
