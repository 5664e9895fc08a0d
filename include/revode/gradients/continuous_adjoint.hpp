/// The continuous adjoint ("optimise-then-discretise", Chen, Rubanova, Bettencourt & Duvenaud,
/// NeurIPS 2018, "Neural ordinary differential equations", Alg. 1): after the forward solve,
/// integrate the augmented system
///   z' = f(t, z),   a' = −aᵀ ∂f/∂z,   a_θ' = −aᵀ ∂f/∂θ
/// backwards from the last save time, starting at (z, a, a_θ) = (y_K, ∂L/∂y_K, 0), with the one
/// `integrate` loop; at each earlier save time z is reset to the stored forward state and
/// ∂L/∂y_k is added to a. At t0, a = ∂L/∂y0 and a_θ = ∂L/∂θ.
///
/// INEXACT BY NATURE: this is the gradient of the continuous problem, approximated by a second,
/// independent discretisation, not the gradient of the forward solver's discrete output. It
/// differs from DirectBackprop by the discretisation errors of both solves, and backward
/// reconstruction of z can drift from the forward trajectory (stiff, dissipative or chaotic f).
/// Its error falls as the backward tolerances tighten (tests/gradients/continuous_adjoint_test).
/// Memory: constant in the number of steps (the augmented state and one step's stages), plus
/// the saved forward states (each save's cotangent is recomputed from its state).
#pragma once

#include <optional>
#include <string_view>

#include "revode/gradients/gradient_method.hpp"

namespace revode {

/// Options of the backward solve. A fixed-step forward solve is mirrored by fixed backward
/// steps of the same size; an adaptive one by adaptive backward steps with the forward
/// solve's options, except for the tolerances given here.
struct AdjointOptions {
  std::optional<double> rtol;  ///< backward rtol; default: the forward one
  std::optional<double> atol;  ///< backward atol; default: the forward one
  /// Error control on z and a only, not a_θ (Kidger, Chen & Lyons 2021, "'Hey, that's not an
  /// ODE': faster ODE adjoints via seminorms", ICML): fewer rejected backward steps; a_θ is a
  /// pure quadrature of the other components, so its error does not feed back.
  bool seminorm = false;

  /// Parses "" or comma-separated "rtol=R", "atol=A", "seminorm" (the part after "adjoint:").
  /// @throws revode::Error naming the bad item.
  static AdjointOptions parse(std::string_view options);
};

template <class T>
class ContinuousAdjoint final : public GradientMethod<T> {
 public:
  explicit ContinuousAdjoint(AdjointOptions options = {});
  std::string name() const override;
  std::unique_ptr<ForwardRecord<T>> forward(const GradientProblem<T>& problem,
                                            SolveObserver<T>* saves = nullptr) const override;
  GradientResult<T> backward(const GradientProblem<T>& problem, ForwardRecord<T>& record,
                             const Loss<T>& loss) const override;

 private:
  AdjointOptions options_;
};

extern template class ContinuousAdjoint<float>;
extern template class ContinuousAdjoint<double>;

}  // namespace revode
