// Kepler field, its hand-written VJP and the circular and eccentric orbits.
#include "revode/fields/kepler.hpp"

#include "revode/core/error.hpp"

namespace revode {

template <class T>
void KeplerField<T>::eval(T /*t*/, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                          BatchRef<T> dy) const {
  const T gm = theta[0];
  for (Index j = 0; j < y.cols(); ++j) {
    const T q1 = y(0, j), q2 = y(1, j), p1 = y(2, j), p2 = y(3, j);
    const T r2 = q1 * q1 + q2 * q2;
    const T inv_r3 = T(1) / (r2 * std::sqrt(r2));
    dy(0, j) = p1;
    dy(1, j) = p2;
    dy(2, j) = -gm * q1 * inv_r3;
    dy(3, j) = -gm * q2 * inv_r3;
  }
}

template <class T>
void KeplerField<T>::vjp(T /*t*/, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                         const ConstBatchRef<T>& a, BatchRef<T> y_bar,
                         VectorRef<T> theta_bar) const {
  const T gm = theta[0];
  T gm_bar = 0;
  for (Index j = 0; j < y.cols(); ++j) {
    // Read the whole column before writing, so y_bar may alias a or y column by column.
    const T q1 = y(0, j), q2 = y(1, j);
    const T a_q1 = a(0, j), a_q2 = a(1, j), a_p1 = a(2, j), a_p2 = a(3, j);
    const T r2 = q1 * q1 + q2 * q2;
    const T inv_r3 = T(1) / (r2 * std::sqrt(r2));
    const T q_dot_a_p = q1 * a_p1 + q2 * a_p2;
    // ∂(−GM q/r³)/∂q = −GM (I/r³ − 3 q qᵀ/r⁵), a symmetric matrix, so aᵀJ = J a.
    const T radial = T(3) * q_dot_a_p / r2;
    y_bar(0, j) = -gm * inv_r3 * (a_p1 - radial * q1);
    y_bar(1, j) = -gm * inv_r3 * (a_p2 - radial * q2);
    y_bar(2, j) = a_q1;
    y_bar(3, j) = a_q2;
    gm_bar -= q_dot_a_p * inv_r3;
  }
  theta_bar[0] += gm_bar;
}

template <class T>
std::unique_ptr<VectorField<T>> KeplerField<T>::clone() const {
  return std::make_unique<KeplerField<T>>(*this);
}

template <class T>
Vector<T> KeplerField<T>::default_params() const {
  return Vector<T>::Constant(1, T(1));
}

template <class T>
Vector<T> kepler_circular_orbit(T t, std::type_identity_t<T> radius, std::type_identity_t<T> gm) {
  require(radius > 0 && gm > 0, "kepler_circular_orbit: radius = {}, gm = {}; required: both > 0",
          radius, gm);
  const T omega = std::sqrt(gm / (radius * radius * radius));
  const T c = std::cos(omega * t), s = std::sin(omega * t);
  Vector<T> state(4);
  state << radius * c, radius * s, -radius * omega * s, radius * omega * c;
  return state;
}

template <class T>
Vector<T> kepler_eccentric_orbit(T t, std::type_identity_t<T> e) {
  require(e >= 0 && e < 1, "kepler_eccentric_orbit: eccentricity e = {}; required: 0 ≤ e < 1", e);
  // Newton on E − e sin E = t from E = t (or π for e > 0.8, where E = t can overshoot).
  const double ed = double(e), td = double(t);
  double big_e = ed > 0.8 ? 3.141592653589793 : td;
  for (int i = 0; i < 60; ++i) {
    const double delta = (big_e - ed * std::sin(big_e) - td) / (1 - ed * std::cos(big_e));
    big_e -= delta;
    if (std::abs(delta) <= 1e-16 * (1 + std::abs(big_e))) break;
  }
  const double d = 1 - ed * std::cos(big_e), s = std::sqrt(1 - ed * ed);
  Vector<T> state(4);
  state << T(std::cos(big_e) - ed), T(s * std::sin(big_e)), T(-std::sin(big_e) / d),
      T(s * std::cos(big_e) / d);
  return state;
}

template class KeplerField<float>;
template class KeplerField<double>;
template Vector<float> kepler_circular_orbit<float>(float, float, float);
template Vector<double> kepler_circular_orbit<double>(double, double, double);
template Vector<float> kepler_eccentric_orbit<float>(float, float);
template Vector<double> kepler_eccentric_orbit<double>(double, double);

}  // namespace revode
