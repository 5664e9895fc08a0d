/// Loss cotangents recomputed on the way back (see recomputed_cotangents.hpp).
#include "revode/gradients/recomputed_cotangents.hpp"

#include "revode/core/bits_equal.hpp"
#include "revode/core/error.hpp"
#include "../core/fit.hpp"

namespace revode {
template <class T>
LossValue<T>::LossValue(const Loss<T>& loss, const SaveAt& save_at) : loss_(loss) {
  if (!save_at.steps) loss.check_saves(Index(save_at.ts.size()));
}

template <class T>
void LossValue<T>::record(const SaveRecord<T>& save) {
  fit(y_bar_, save.y.rows(), save.y.cols());
  sum_ += loss_.term(save.k, save.t, save.y, y_bar_);
  times_.push_back(save.t);
  ++saves_;
}

template <class T>
double LossValue<T>::finish(Index dim, Index batch) {
  loss_.check_saves(saves_);
  scale_ = loss_.scale(saves_, dim, batch);
  return scale_ * sum_;
}

template <class T>
SaveWalk<T>::SaveWalk(const GradientProblem<T>& problem, const VectorField<T>& f,
                      const Loss<T>& loss, Index saves)
    : p_(problem),
      f_(f),
      loss_(loss),
      scale_((loss.check_saves(saves), loss.scale(saves, problem.field.state_dim(), problem.y0.cols()))),
      axis_(problem.t0, problem.t1),
      dim_(problem.field.state_dim()),
      batch_(problem.y0.cols()),
      next_save_(saves - 1) {}

template <class T>
void SaveWalk<T>::add_step_saves(double ta, double tb, const ConstBatchRef<T>& y0,
                                 const ConstBatchRef<T>& y1, const ConstBatchRef<T>& tape,
                                 BatchRef<T> y0_bar, BatchRef<T> y1_bar, VectorRef<T> theta_bar) {
  have_ends_ = false;
  if (p_.save_at.steps) {
    require(next_save_ >= 1, "SaveWalk: more steps than saves at every step (a bug)");
    add_save(next_save_--, tb, ta, tb, y0, y1, tape, y0_bar, y1_bar, theta_bar);
    return;
  }
  for (; next_save_ >= 0 && axis_.beyond(p_.save_at.ts[std::size_t(next_save_)], ta); --next_save_)
    add_save(next_save_, p_.save_at.ts[std::size_t(next_save_)], ta, tb, y0, y1, tape, y0_bar,
             y1_bar, theta_bar);
}

template <class T>
void SaveWalk<T>::add_initial_saves(BatchRef<T> y0_bar) {
  // integrate saves initialize(y0)'s first block at t0, which is y0 itself.
  for (; next_save_ >= 0; --next_save_) {
    cotangent(next_save_, p_.save_at.steps ? p_.t0 : p_.save_at.ts[std::size_t(next_save_)],
              p_.y0);
    y0_bar += save_.y_bar;
  }
}

template <class T>
Index SaveWalk<T>::stored_floats() const {
  // y_bar; with dense saves f0, f1, y, 2 for the VJP and the carried end state
  return dim_ * batch_ * (p_.save_at.dense ? 7 : 1);
}

template <class T>
void SaveWalk<T>::add_save(Index k, double t, double ta, double tb, const ConstBatchRef<T>& y0,
                           const ConstBatchRef<T>& y1, const ConstBatchRef<T>& tape,
                           BatchRef<T> y0_bar, BatchRef<T> y1_bar, VectorRef<T> theta_bar) {
  if (!(p_.save_at.dense && axis_.strictly_inside(t, ta, tb))) {
    cotangent(k, t, y1);
    y1_bar += save_.y_bar;
    return;
  }
  // A dense save: the interpolant needs f at both ends of the step, once per step.
  if (!have_ends_) step_ends(ta, tb, y0, y1, tape);
  const double delta = tb - ta;
  save_.s = (t - ta) / delta;
  fit(dense_y_, dim_, batch_);
  hermite_interpolate<T>(save_.s, delta, y0, f0_, y1, f1_, dense_y_);
  cotangent(k, t, dense_y_);
  pull_back_save<T>(f_, save_, ta, tb, y0, y1, p_.theta, y0_bar, y1_bar, theta_bar, scratch_);
}

template <class T>
void SaveWalk<T>::step_ends(double ta, double tb, const ConstBatchRef<T>& y0,
                            const ConstBatchRef<T>& y1, const ConstBatchRef<T>& tape) {
  fit(f1_, dim_, batch_);
  const bool end_known = tape.cols() > 0 && p_.stepper.end_derivative(tape, y1, f1_);
  if (!end_known && carried_end_ && carried_t_ == tb && bits_equal<T>(carried_y_, y1)) {
    f1_.swap(f0_);  // the later step's f(ta', y0') at this step's (tb, y1)
  } else if (!end_known) {
    f_.eval(T(tb), y1, p_.theta, f1_);
  }
  fit(f0_, dim_, batch_);
  if (tape.cols() == 0 || !p_.stepper.start_derivative(tape, batch_, f0_))
    f_.eval(T(ta), y0, p_.theta, f0_);
  // f0_ may serve as the earlier step's end slope; not needed (and y0 not copied) when the
  // stepper's tapes give end slopes, as this step's did.
  carried_end_ = !end_known;
  if (carried_end_) {
    carried_t_ = ta;
    carried_y_ = y0;
  }
  have_ends_ = true;
}

template <class T>
void SaveWalk<T>::cotangent(Index k, double t, const ConstBatchRef<T>& y) {
  save_.t = t;
  fit(save_.y_bar, dim_, batch_);
  (void)loss_.term(k, t, y, save_.y_bar);  // the value was summed forwards
  save_.y_bar *= T(scale_);
}

template class LossValue<float>;
template class LossValue<double>;
template class SaveWalk<float>;
template class SaveWalk<double>;

}  // namespace revode
