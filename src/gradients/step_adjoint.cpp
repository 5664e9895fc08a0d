/// The shared backward walk over accepted steps (see step_adjoint.hpp).
#include "revode/gradients/step_adjoint.hpp"

namespace revode {

template <class T>
StepAdjoint<T>::StepAdjoint(const GradientProblem<T>& problem, const VectorField<T>& f,
                            const std::vector<SaveCotangent<T>>& saves)
    : p_(problem), f_(f), saves_(saves), dim_(problem.field.state_dim()),
      next_save_(Index(saves.size()) - 1) {
  const Index rows = problem.stepper.state_copies() * dim_, batch = problem.y0.cols();
  x_bar_ = Batch<T>::Zero(rows, batch);
  x_bar_prev_.resize(rows, batch);
  pending_.resize(dim_, batch);
  theta_bar_ = Vector<T>::Zero(problem.theta.size());
}

template <class T>
void StepAdjoint<T>::add_saves(Index n, double t0, double t1, ConstBatchRef<T> x0,
                               ConstBatchRef<T> x1) {
  pending_.setZero();
  for (; next_save_ >= 0 && saves_[std::size_t(next_save_)].step == n; --next_save_)
    pull_back_save<T>(f_, saves_[std::size_t(next_save_)], t0, t1, x0.topRows(dim_),
                      x1.topRows(dim_), p_.theta, pending_, x_bar_.topRows(dim_), theta_bar_,
                      scratch_);
}

template <class T>
void StepAdjoint<T>::finish_step() {
  x_bar_prev_.topRows(dim_) += pending_;
  x_bar_.swap(x_bar_prev_);
}

template <class T>
void StepAdjoint<T>::step_vjp(Index n, double t0, double t1, ConstBatchRef<T> x0,
                              ConstBatchRef<T> x1, ConstBatchRef<T> tape) {
  add_saves(n, t0, t1, x0, x1);
  p_.stepper.step_vjp(f_, T(t0), T(t1), x0, p_.theta, tape, x_bar_, x_bar_prev_, theta_bar_);
  finish_step();
}

template <class T>
Batch<T> StepAdjoint<T>::grad_y0() {
  for (; next_save_ >= 0; --next_save_) x_bar_.topRows(dim_) += saves_[std::size_t(next_save_)].y_bar;
  Batch<T> g(dim_, p_.y0.cols());
  p_.stepper.initialize_vjp(f_, T(p_.t0), p_.y0, p_.theta, x_bar_, g, theta_bar_);
  return g;
}

template class StepAdjoint<float>;
template class StepAdjoint<double>;

}  // namespace revode
