/// Asynchronous leapfrog step, inverse and VJP (see alf.hpp). Blocks of the state: rows
/// [0, d) z (the output y), [d, 2d) v.
#include "revode/solvers/reversible/alf.hpp"

#include "revode/core/error.hpp"

namespace revode {

template <class T>
AsynchronousLeapfrog<T>::AsynchronousLeapfrog(double damping) : damping_(damping) {
  require(damping > 0.0 && damping <= 1.0 && damping != 0.5,
          "asynchronous leapfrog damping η = {}; required: 0 < η ≤ 1 and η ≠ 1/2 (η = 1/2 "
          "makes v1 = u, so the step cannot be inverted; η = 1 is undamped)",
          damping);
}

template <class T>
void AsynchronousLeapfrog<T>::initialize(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                                         const ConstVectorRef<T>& theta, BatchRef<T> x0) const {
  const Index d = y0.rows();
  x0.topRows(d) = y0;
  f.eval(t0, y0, theta, x0.bottomRows(d));
}

template <class T>
void AsynchronousLeapfrog<T>::initialize_vjp(const VectorField<T>& f, T t0,
                                             const ConstBatchRef<T>& y0,
                                             const ConstVectorRef<T>& theta,
                                             const ConstBatchRef<T>& x0_bar, BatchRef<T> y0_bar,
                                             VectorRef<T> theta_bar) const {
  const Index d = y0.rows();
  f.vjp(t0, y0, theta, x0_bar.bottomRows(d), y0_bar, theta_bar);  // v0 = f(t0, y0)
  y0_bar += x0_bar.topRows(d);
}

template <class T>
void AsynchronousLeapfrog<T>::step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                                   const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T>,
                                   Batch<T>* error, bool) const {
  const Index d = f.state_dim();
  const T h = t1 - t0, eta = T(damping_);
  const auto v = x0.bottomRows(d);
  auto v1 = x1.bottomRows(d);
  k_ = x0.topRows(d) + (h / T(2)) * v;
  u_.resize(d, x0.cols());
  f.eval(midpoint(t0, t1), k_, theta, u_);
  v1 = v + (T(2) * eta) * (u_ - v);
  x1.topRows(d) = k_ + (h / T(2)) * v1;
  if (error != nullptr) *error = h * (u_ - v);
}

template <class T>
void AsynchronousLeapfrog<T>::reverse_step(const VectorField<T>& f, T t0, T t1,
                                           const ConstBatchRef<T>& x1,
                                           const ConstVectorRef<T>& theta, BatchRef<T> x0) const {
  const Index d = f.state_dim();
  const T h = t1 - t0, eta = T(damping_);
  auto v = x0.bottomRows(d);
  k_ = x1.topRows(d) - (h / T(2)) * x1.bottomRows(d);
  u_.resize(d, x1.cols());
  f.eval(midpoint(t0, t1), k_, theta, u_);
  v = (x1.bottomRows(d) - (T(2) * eta) * u_) / (T(1) - T(2) * eta);
  x0.topRows(d) = k_ - (h / T(2)) * v;
}

template <class T>
void AsynchronousLeapfrog<T>::step_vjp(const VectorField<T>& f, T t0, T t1,
                                       const ConstBatchRef<T>& x0, const ConstVectorRef<T>& theta,
                                       const ConstBatchRef<T>&, const ConstBatchRef<T>& x1_bar,
                                       BatchRef<T> x0_bar, VectorRef<T> theta_bar) const {
  const Index d = f.state_dim();
  const T h = t1 - t0, eta = T(damping_);
  const auto z1_bar = x1_bar.topRows(d);
  k_ = x0.topRows(d) + (h / T(2)) * x0.bottomRows(d);    // as in `step`
  v1_bar_ = x1_bar.bottomRows(d) + (h / T(2)) * z1_bar;  // z1 = k + h v1 / 2
  u_bar_ = (T(2) * eta) * v1_bar_;                       // v1 = (1 − 2η) v + 2η u
  k_bar_.resize(d, x0.cols());
  f.vjp(midpoint(t0, t1), k_, theta, u_bar_, k_bar_, theta_bar);
  k_bar_ += z1_bar;
  x0_bar.topRows(d) = k_bar_;  // k = z + h v / 2
  x0_bar.bottomRows(d) = (T(1) - T(2) * eta) * v1_bar_ + (h / T(2)) * k_bar_;
}

template class AsynchronousLeapfrog<float>;
template class AsynchronousLeapfrog<double>;

}  // namespace revode
