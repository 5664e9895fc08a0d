/// A planar Lennard-Jones cluster: N unit-mass atoms in 2-D with the pair potential
/// V(r) = 4ε((σ/r)¹² − (σ/r)⁶) (Lennard-Jones 1924, Proc. R. Soc. A 106:463), as a first-order
/// field on (q, p), θ = (ε, σ), with a hand-written VJP and the conserved energy. The 3-atom
/// cluster (an equilateral triangle of side 2^{1/6} σ at rest) is a standard small test of
/// Hamiltonian learning and of geometric integrators.
#pragma once

#include <memory>
#include <string>

#include "revode/core/types.hpp"
#include "revode/core/vector_field.hpp"

namespace revode {

/// State rows: q = (x_1, y_1, …, x_N, y_N), then p in the same layout (state_dim = 4N).
///   q' = p,   p_i' = Σ_{j≠i} g(|q_i − q_j|²) (q_i − q_j),
///   g(u) = 24 ε (2 σ¹² u⁻⁷ − σ⁶ u⁻⁴)   (= −V'(r)/r at u = r²).
/// Singular when two atoms meet (yields Inf/NaN there).
template <class T>
class LennardJonesField final : public VectorField<T> {
 public:
  /// @throws revode::Error unless atoms ≥ 2.
  explicit LennardJonesField(Index atoms = 3);

  Index atoms() const { return atoms_; }
  Index state_dim() const override { return 4 * atoms_; }
  Index param_count() const override { return 2; }
  /// "lennard-jones:<N>".
  std::string name() const override;

  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  std::unique_ptr<VectorField<T>> clone() const override;

  /// (ε, σ) = (1, 1).
  Vector<T> default_params() const;

 private:
  Index atoms_;
};

/// H = |p|²/2 + Σ_{i<j} V(|q_i − q_j|) for one state column of `atoms` atoms; conserved by the
/// exact flow. @param state 4·atoms entries. @param theta (ε, σ).
double lennard_jones_energy(const ConstVectorRef<double>& state,
                            const ConstVectorRef<double>& theta);

extern template class LennardJonesField<float>;
extern template class LennardJonesField<double>;

}  // namespace revode
