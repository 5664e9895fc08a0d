// Lotka–Volterra field and its hand-written VJP.
#include "revode/fields/lotka_volterra.hpp"

namespace revode {

template <class T>
void LotkaVolterraField<T>::eval(T /*t*/, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                                 BatchRef<T> dy) const {
  const T alpha = theta[0], beta = theta[1], delta = theta[2], gamma = theta[3];
  for (Index j = 0; j < y.cols(); ++j) {
    const T prey = y(0, j), predator = y(1, j);
    dy(0, j) = alpha * prey - beta * prey * predator;
    dy(1, j) = delta * prey * predator - gamma * predator;
  }
}

template <class T>
void LotkaVolterraField<T>::vjp(T /*t*/, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                                const ConstBatchRef<T>& a, BatchRef<T> y_bar,
                                VectorRef<T> theta_bar) const {
  const T alpha = theta[0], beta = theta[1], delta = theta[2], gamma = theta[3];
  T alpha_bar = 0, beta_bar = 0, delta_bar = 0, gamma_bar = 0;
  for (Index j = 0; j < y.cols(); ++j) {
    // Read the whole column before writing, so y_bar may alias a or y column by column.
    const T prey = y(0, j), predator = y(1, j), a_prey = a(0, j), a_predator = a(1, j);
    y_bar(0, j) = a_prey * (alpha - beta * predator) + a_predator * delta * predator;
    y_bar(1, j) = -a_prey * beta * prey + a_predator * (delta * prey - gamma);
    alpha_bar += a_prey * prey;
    beta_bar -= a_prey * prey * predator;
    delta_bar += a_predator * prey * predator;
    gamma_bar -= a_predator * predator;
  }
  theta_bar[0] += alpha_bar;
  theta_bar[1] += beta_bar;
  theta_bar[2] += delta_bar;
  theta_bar[3] += gamma_bar;
}

template <class T>
std::unique_ptr<VectorField<T>> LotkaVolterraField<T>::clone() const {
  return std::make_unique<LotkaVolterraField<T>>(*this);
}

template <class T>
Vector<T> LotkaVolterraField<T>::default_params() const {
  Vector<T> theta(4);
  theta << T(1.5), T(1), T(1), T(3);
  return theta;
}

template class LotkaVolterraField<float>;
template class LotkaVolterraField<double>;

}  // namespace revode
