// Van der Pol field and its hand-written VJP.
#include "revode/fields/van_der_pol.hpp"

namespace revode {

template <class T>
void VanDerPolField<T>::eval(T /*t*/, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                             BatchRef<T> dy) const {
  const T mu = theta[0];
  for (Index j = 0; j < y.cols(); ++j) {
    const T position = y(0, j), velocity = y(1, j);
    dy(0, j) = velocity;
    dy(1, j) = mu * (T(1) - position * position) * velocity - position;
  }
}

template <class T>
void VanDerPolField<T>::vjp(T /*t*/, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                            const ConstBatchRef<T>& a, BatchRef<T> y_bar,
                            VectorRef<T> theta_bar) const {
  const T mu = theta[0];
  T mu_bar = 0;
  for (Index j = 0; j < y.cols(); ++j) {
    // Read the whole column before writing, so y_bar may alias a or y column by column.
    const T position = y(0, j), velocity = y(1, j), a_position = a(0, j), a_velocity = a(1, j);
    const T damping = T(1) - position * position;
    y_bar(0, j) = a_velocity * (T(-2) * mu * position * velocity - T(1));
    y_bar(1, j) = a_position + a_velocity * mu * damping;
    mu_bar += a_velocity * damping * velocity;
  }
  theta_bar[0] += mu_bar;
}

template <class T>
std::unique_ptr<VectorField<T>> VanDerPolField<T>::clone() const {
  return std::make_unique<VanDerPolField<T>>(*this);
}

template <class T>
Vector<T> VanDerPolField<T>::default_params() const {
  return Vector<T>::Constant(1, T(1));
}

template class VanDerPolField<float>;
template class VanDerPolField<double>;

}  // namespace revode
