/// The symplectic adjoint method (Matsubara, Miyatake & Yaguchi, NeurIPS 2021, "Symplectic
/// adjoint method for exact gradient of neural ODE with minimal memory"): the adjoint system is
/// integrated with the symplectic partitioned-RK partner of the forward explicit RK tableau
/// (A, b, c) — B_i = b_i, C_i = c_i, Ā_ij = b_j − b_j a_ji / b_i (Sanz-Serna 2016, SIAM Rev.
/// 58(1):3–33) — which makes it the exact gradient of the discrete forward map.
///
/// Forward: only (t_n, y_n) after each accepted step (N + 1 states; adaptive step times are
/// recorded, fixed ones regenerated). Backward, per step: recompute the stage derivatives the
/// stages need (s − 1 evaluations for a non-FSAL tableau), then process stages i = s … 1 one at
/// a time, one f evaluation + VJP each, so only one evaluation's intermediates are ever alive:
///   Λ_i = λ_{n+1} + h Σ_{j>i} (b_j − Ā_ij) J_jᵀ Λ_j,
///   λ_n = λ_{n+1} + h Σ_i b_i J_iᵀ Λ_i,   ∂L/∂θ += h Σ_i b_i F_iᵀ Λ_i,
/// with J_i = ∂f/∂y and F_i = ∂f/∂θ at stage i (ALGORITHMS.md §3). A stage with b_i = 0
/// (Dormand–Prince stage 2, Fehlberg's last, the FSAL stage of Bogacki–Shampine, Dopri5,
/// Tsit5) has no Λ_i; it is carried by the rescaled Λ̃_i = μ_i / h², μ_i the adjoint of its
/// stage derivative, which obeys Λ̃_i = Σ_{j>i} a_ji b_j J_jᵀ Λ_j (h J_jᵀ Λ̃_j in place of
/// b_j J_jᵀ Λ_j for a later stage j with b_j = 0), contributes h² F_iᵀ Λ̃_i to ∂L/∂θ and
/// h² J_iᵀ Λ̃_i to λ_n, and drops out when no later stage reads it (a trailing FSAL stage).
/// Memory: (N + O(s)) states + one evaluation's intermediates, against N·s for backprop.
/// Applies to ExplicitRK steppers only (it needs the stage structure of the tableau).
#pragma once

#include <array>

#include "revode/gradients/gradient_method.hpp"
#include "revode/solvers/butcher_tableau.hpp"

namespace revode {

/// The partner coefficients Ā_ij = b_j − b_j a_ji / b_i of the symplectic partitioned RK pair
/// (they satisfy b_i Ā_ij + b_j a_ji = b_i b_j); NaN in rows with b_i = 0, where the rescaled
/// variable takes over.
std::array<std::array<double, kMaxStages>, kMaxStages> symplectic_partner(const ButcherTableau& t);

template <class T>
class SymplecticAdjoint final : public GradientMethod<T> {
 public:
  std::string name() const override { return "symplectic"; }
  /// @throws revode::Error when the problem's stepper is not an ExplicitRK.
  std::unique_ptr<ForwardRecord<T>> forward(const GradientProblem<T>& problem,
                                            SolveObserver<T>* saves = nullptr) const override;
  GradientResult<T> backward(const GradientProblem<T>& problem, ForwardRecord<T>& record,
                             const Loss<T>& loss) const override;
};

extern template class SymplecticAdjoint<float>;
extern template class SymplecticAdjoint<double>;

}  // namespace revode
