// White dwarf field and its hand-written VJP.
#include "revode/fields/white_dwarf.hpp"

#include <algorithm>
#include <cmath>

namespace revode {

template <class T>
void WhiteDwarfField<T>::eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                              BatchRef<T> dy) const {
  const T c = theta[0];
  const T friction = T(2) / (t + time_shift);
  for (Index j = 0; j < y.cols(); ++j) {
    const T potential = y(0, j), slope = y(1, j);
    // std::max keeps a NaN first argument, so a NaN state still propagates visibly.
    const T base = std::max(potential * potential - c, T(0));
    dy(0, j) = slope;
    dy(1, j) = -base * std::sqrt(base) - friction * slope;
  }
}

template <class T>
void WhiteDwarfField<T>::vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                             const ConstBatchRef<T>& a, BatchRef<T> y_bar,
                             VectorRef<T> theta_bar) const {
  const T c = theta[0];
  const T friction = T(2) / (t + time_shift);
  T c_bar = 0;
  for (Index j = 0; j < y.cols(); ++j) {
    // Read the whole column before writing, so y_bar may alias a or y column by column.
    const T potential = y(0, j), a_potential = a(0, j), a_slope = a(1, j);
    const T root = std::sqrt(std::max(potential * potential - c, T(0)));
    // d/dy1 of −base^(3/2) is −3 y1 sqrt(base); d/dC is +(3/2) sqrt(base); both 0 when clamped.
    y_bar(0, j) = T(-3) * a_slope * potential * root;
    y_bar(1, j) = a_potential - a_slope * friction;
    c_bar += T(1.5) * a_slope * root;
  }
  theta_bar[0] += c_bar;
}

template <class T>
std::unique_ptr<VectorField<T>> WhiteDwarfField<T>::clone() const {
  return std::make_unique<WhiteDwarfField<T>>(*this);
}

template <class T>
Vector<T> WhiteDwarfField<T>::default_params() const {
  return Vector<T>::Constant(1, T(0.001));
}

template class WhiteDwarfField<float>;
template class WhiteDwarfField<double>;

}  // namespace revode
