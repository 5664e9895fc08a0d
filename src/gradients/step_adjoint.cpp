/// The shared backward walk over accepted steps (see step_adjoint.hpp).
#include "revode/gradients/step_adjoint.hpp"

namespace revode {

template <class T>
StepAdjoint<T>::StepAdjoint(const GradientProblem<T>& problem, const VectorField<T>& f,
                            SaveWalk<T>& saves)
    : p_(problem), f_(f), saves_(saves), dim_(problem.field.state_dim()) {
  const Index rows = problem.stepper.state_copies() * dim_, batch = problem.y0.cols();
  x_bar_ = Batch<T>::Zero(rows, batch);
  x_bar_prev_.resize(rows, batch);
  pending_.resize(dim_, batch);
  theta_bar_ = Vector<T>::Zero(problem.theta.size());
}

template <class T>
void StepAdjoint<T>::add_saves(double t0, double t1, const ConstBatchRef<T>& x0,
                               const ConstBatchRef<T>& x1, const ConstBatchRef<T>& tape) {
  pending_.setZero();
  saves_.add_step_saves(t0, t1, x0.topRows(dim_), x1.topRows(dim_), tape, pending_,
                        x_bar_.topRows(dim_), theta_bar_);
}

template <class T>
void StepAdjoint<T>::finish_step() {
  x_bar_prev_.topRows(dim_) += pending_;
  x_bar_.swap(x_bar_prev_);
}

template <class T>
void StepAdjoint<T>::step_vjp(double t0, double t1, const ConstBatchRef<T>& x0,
                              const ConstBatchRef<T>& x1, const ConstBatchRef<T>& tape) {
  add_saves(t0, t1, x0, x1, tape);
  p_.stepper.step_vjp(f_, T(t0), T(t1), x0, p_.theta, tape, x_bar_, x_bar_prev_, theta_bar_);
  finish_step();
}

template <class T>
Batch<T> StepAdjoint<T>::grad_y0() {
  saves_.add_initial_saves(x_bar_.topRows(dim_));
  Batch<T> g(dim_, p_.y0.cols());
  p_.stepper.initialize_vjp(f_, T(p_.t0), p_.y0, p_.theta, x_bar_, g, theta_bar_);
  return g;
}

template class StepAdjoint<float>;
template class StepAdjoint<double>;

}  // namespace revode
