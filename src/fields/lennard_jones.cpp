// Lennard-Jones cluster field, its hand-written VJP and its energy.
#include "revode/fields/lennard_jones.hpp"

#include <cmath>

#include "revode/core/error.hpp"

namespace revode {

template <class T>
LennardJonesField<T>::LennardJonesField(Index atoms) : atoms_(atoms) {
  require(atoms >= 2, "Lennard-Jones cluster with {} atoms; required: at least 2", atoms);
}

template <class T>
std::string LennardJonesField<T>::name() const {
  return "lennard-jones:" + std::to_string(atoms_);
}

template <class T>
void LennardJonesField<T>::eval(T /*t*/, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                                BatchRef<T> dy) const {
  const T eps = theta[0], sigma6 = std::pow(theta[1], T(6)), sigma12 = sigma6 * sigma6;
  const Index n = 2 * atoms_;
  for (Index c = 0; c < y.cols(); ++c) {
    dy.col(c).head(n) = y.col(c).tail(n);  // q' = p
    dy.col(c).tail(n).setZero();
    for (Index i = 0; i < atoms_; ++i)
      for (Index j = i + 1; j < atoms_; ++j) {
        const T dx = y(2 * i, c) - y(2 * j, c), dz = y(2 * i + 1, c) - y(2 * j + 1, c);
        const T s = T(1) / (dx * dx + dz * dz), s4 = s * s * s * s;
        const T g = T(24) * eps * (T(2) * sigma12 * s4 * s * s * s - sigma6 * s4);
        dy(n + 2 * i, c) += g * dx;
        dy(n + 2 * i + 1, c) += g * dz;
        dy(n + 2 * j, c) -= g * dx;
        dy(n + 2 * j + 1, c) -= g * dz;
      }
  }
}

template <class T>
void LennardJonesField<T>::vjp(T /*t*/, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                               const ConstBatchRef<T>& a, BatchRef<T> y_bar,
                               VectorRef<T> theta_bar) const {
  const T eps = theta[0], sigma = theta[1];
  const T sigma5 = std::pow(sigma, T(5)), sigma6 = sigma5 * sigma, sigma12 = sigma6 * sigma6;
  const Index n = 2 * atoms_;
  T eps_bar = 0, sigma_bar = 0;
  for (Index c = 0; c < y.cols(); ++c) {
    // The q' = p rows: p_bar = a_q. The q rows accumulate over pairs below (a_p is read only
    // through `a`, so y_bar must not alias a).
    y_bar.col(c).tail(n) = a.col(c).head(n);
    y_bar.col(c).head(n).setZero();
    for (Index i = 0; i < atoms_; ++i)
      for (Index j = i + 1; j < atoms_; ++j) {
        const T dx = y(2 * i, c) - y(2 * j, c), dz = y(2 * i + 1, c) - y(2 * j + 1, c);
        const T s = T(1) / (dx * dx + dz * dz), s4 = s * s * s * s, s7 = s4 * s * s * s;
        // The pair adds g d to p_i' and −g d to p_j' (d = q_i − q_j), so its share of
        // aᵀf is g (Δa · d) with Δa = a_{p_i} − a_{p_j}.
        const T ax = a(n + 2 * i, c) - a(n + 2 * j, c),
                az = a(n + 2 * i + 1, c) - a(n + 2 * j + 1, c);
        const T g_eps = T(24) * (T(2) * sigma12 * s7 - sigma6 * s4);  // ∂g/∂ε
        const T g = eps * g_eps;
        const T g_u = T(24) * eps * (T(-14) * sigma12 * s7 * s + T(4) * sigma6 * s4 * s);  // dg/du
        const T dot = ax * dx + az * dz;
        // ∂/∂d [g(|d|²) (Δa · d)] = g Δa + 2 g'(u) (Δa · d) d.
        const T bx = g * ax + T(2) * g_u * dot * dx, bz = g * az + T(2) * g_u * dot * dz;
        y_bar(2 * i, c) += bx;
        y_bar(2 * i + 1, c) += bz;
        y_bar(2 * j, c) -= bx;
        y_bar(2 * j + 1, c) -= bz;
        eps_bar += dot * g_eps;
        sigma_bar += dot * T(24) * eps * (T(24) * sigma5 * sigma6 * s7 - T(6) * sigma5 * s4);
      }
  }
  theta_bar[0] += eps_bar;
  theta_bar[1] += sigma_bar;
}

template <class T>
std::unique_ptr<VectorField<T>> LennardJonesField<T>::clone() const {
  return std::make_unique<LennardJonesField<T>>(*this);
}

template <class T>
Vector<T> LennardJonesField<T>::default_params() const {
  return Vector<T>::Ones(2);
}

double lennard_jones_energy(const ConstVectorRef<double>& state,
                            const ConstVectorRef<double>& theta) {
  require(state.size() % 4 == 0 && state.size() >= 8 && theta.size() == 2,
          "lennard_jones_energy: state of {} entries and {} parameters; required: 4·atoms "
          "entries (atoms ≥ 2) and (ε, σ)",
          state.size(), theta.size());
  const Index atoms = state.size() / 4, n = 2 * atoms;
  double energy = state.tail(n).squaredNorm() / 2;
  for (Index i = 0; i < atoms; ++i)
    for (Index j = i + 1; j < atoms; ++j) {
      const double r2 = (state.segment(2 * i, 2) - state.segment(2 * j, 2)).squaredNorm();
      const double x6 = std::pow(theta[1] * theta[1] / r2, 3);  // (σ/r)⁶
      energy += 4 * theta[0] * (x6 * x6 - x6);
    }
  return energy;
}

template class LennardJonesField<float>;
template class LennardJonesField<double>;

}  // namespace revode
