/// The planar Kepler (two-body) problem q'' = −GM q/|q|³ as a first-order field on (q1, q2, p1,
/// p2), θ = (GM), with its invariants and the circular orbit in closed form, for tests.
/// Hairer, Lubich & Wanner, Geometric Numerical Integration (2006), §I.2.3.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <type_traits>

#include "revode/core/types.hpp"
#include "revode/core/vector_field.hpp"

namespace revode {

/// q' = p, p' = −GM q / |q|³. Singular at q = 0 (collision), where it yields Inf/NaN.
template <class T>
class KeplerField final : public VectorField<T> {
 public:
  Index state_dim() const override { return 4; }
  Index param_count() const override { return 1; }
  std::string name() const override { return "kepler"; }

  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  std::unique_ptr<VectorField<T>> clone() const override;

  /// (GM) = (1).
  Vector<T> default_params() const;
};

/// H = |p|²/2 − GM/|q| for one state (q1, q2, p1, p2); conserved by the exact flow.
template <class Derived>
typename Derived::Scalar kepler_energy(const Eigen::MatrixBase<Derived>& state,
                                       typename Derived::Scalar gm = 1) {
  using std::sqrt;
  const auto q_norm = sqrt(state[0] * state[0] + state[1] * state[1]);
  return (state[2] * state[2] + state[3] * state[3]) / 2 - gm / q_norm;
}

/// L = q1 p2 − q2 p1 for one state (q1, q2, p1, p2); conserved by the exact flow.
template <class Derived>
typename Derived::Scalar kepler_angular_momentum(const Eigen::MatrixBase<Derived>& state) {
  return state[0] * state[3] - state[1] * state[2];
}

/// The circular orbit of the given radius starting at q = (radius, 0), counter-clockwise, with
/// angular speed ω = sqrt(GM / radius³); for radius = GM = 1: q = (cos t, sin t),
/// p = (−sin t, cos t). @throws revode::Error unless radius > 0 and gm > 0.
template <class T>
Vector<T> kepler_circular_orbit(T t, std::type_identity_t<T> radius = 1,
                                std::type_identity_t<T> gm = 1);

/// The orbit of eccentricity e ∈ [0, 1) with GM = 1 and semi-major axis 1 (period 2π) from
/// perihelion q = (1 − e, 0) at t = 0, counter-clockwise: exact through Kepler's equation
/// t = E − e sin E (solved by Newton to round-off), q = (cos E − e, √(1 − e²) sin E).
/// @throws revode::Error unless 0 ≤ e < 1.
template <class T>
Vector<T> kepler_eccentric_orbit(T t, std::type_identity_t<T> e);

extern template class KeplerField<float>;
extern template class KeplerField<double>;
extern template Vector<float> kepler_circular_orbit<float>(float, float, float);
extern template Vector<double> kepler_circular_orbit<double>(double, double, double);
extern template Vector<float> kepler_eccentric_orbit<float>(float, float);
extern template Vector<double> kepler_eccentric_orbit<double>(double, double);

}  // namespace revode
