/// Reversible Heun step, inverse and VJP (see reversible_heun.hpp). Blocks of the state:
/// rows [0, d) y, [d, 2d) ŷ, [2d, 3d) f̂.
#include "revode/solvers/reversible/reversible_heun.hpp"

namespace revode {

template <class T>
void ReversibleHeun<T>::initialize(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                                   const ConstVectorRef<T>& theta, BatchRef<T> x0) const {
  const Index d = y0.rows();
  x0.topRows(d) = y0;
  x0.middleRows(d, d) = y0;
  f.eval(t0, y0, theta, x0.bottomRows(d));
}

template <class T>
void ReversibleHeun<T>::initialize_vjp(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                                       const ConstVectorRef<T>& theta,
                                       const ConstBatchRef<T>& x0_bar, BatchRef<T> y0_bar,
                                       VectorRef<T> theta_bar) const {
  const Index d = y0.rows();
  f.vjp(t0, y0, theta, x0_bar.bottomRows(d), y0_bar, theta_bar);
  y0_bar += x0_bar.topRows(d) + x0_bar.middleRows(d, d);
}

template <class T>
void ReversibleHeun<T>::step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                             const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T>,
                             Batch<T>* error, bool) const {
  const Index d = f.state_dim();
  const T h = t1 - t0;
  const auto y = x0.topRows(d), f_hat = x0.bottomRows(d);
  auto y_hat1 = x1.middleRows(d, d), f_hat1 = x1.bottomRows(d);
  y_hat1 = T(2) * y - x0.middleRows(d, d) + h * f_hat;
  f.eval(t1, y_hat1, theta, f_hat1);
  x1.topRows(d) = y + (h / T(2)) * (f_hat + f_hat1);
  if (error != nullptr) *error = (h / T(2)) * (f_hat1 - f_hat);
}

template <class T>
void ReversibleHeun<T>::reverse_step(const VectorField<T>& f, T t0, T t1,
                                     const ConstBatchRef<T>& x1, const ConstVectorRef<T>& theta,
                                     BatchRef<T> x0) const {
  const Index d = f.state_dim();
  const T h = t1 - t0;
  const auto y1 = x1.topRows(d), f_hat1 = x1.bottomRows(d);
  auto y_hat0 = x0.middleRows(d, d), f_hat0 = x0.bottomRows(d);
  y_hat0 = T(2) * y1 - x1.middleRows(d, d) - h * f_hat1;
  f.eval(t0, y_hat0, theta, f_hat0);
  x0.topRows(d) = y1 - (h / T(2)) * (f_hat0 + f_hat1);
}

template <class T>
void ReversibleHeun<T>::step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                                 const ConstVectorRef<T>& theta, const ConstBatchRef<T>&,
                                 const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                                 VectorRef<T> theta_bar) const {
  const Index d = f.state_dim();
  const T h = t1 - t0;
  const auto y_bar1 = x1_bar.topRows(d);
  // ŷ1 exactly as `step` formed it, so the VJP runs where the forward evaluated f.
  y_hat1_ = T(2) * x0.topRows(d) - x0.middleRows(d, d) + h * x0.bottomRows(d);
  f_bar_ = x1_bar.bottomRows(d) + (h / T(2)) * y_bar1;  // f̂1 feeds y1 and is f̂1 itself
  y_hat1_bar_.resize(d, x0.cols());
  f.vjp(t1, y_hat1_, theta, f_bar_, y_hat1_bar_, theta_bar);
  y_hat1_bar_ += x1_bar.middleRows(d, d);
  x0_bar.topRows(d) = y_bar1 + T(2) * y_hat1_bar_;
  x0_bar.middleRows(d, d) = -y_hat1_bar_;
  x0_bar.bottomRows(d) = (h / T(2)) * y_bar1 + h * y_hat1_bar_;
}

template class ReversibleHeun<float>;
template class ReversibleHeun<double>;

}  // namespace revode
