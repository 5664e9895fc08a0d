/// The Lotka–Volterra predator–prey field x' = αx − βxy, y' = δxy − γy (Lotka 1925;
/// Volterra 1926), with θ = (α, β, δ, γ). Defaults (1.5, 1, 1, 3) with y0 = (1, 1) are those of
/// the DifferentialEquations.jl tutorial, a common benchmark for neural-ODE fits.
#pragma once

#include <memory>
#include <string>

#include "revode/core/types.hpp"
#include "revode/core/vector_field.hpp"

namespace revode {

/// State (x, y) = (prey, predator); θ = (α, β, δ, γ): prey growth, predation, predator growth
/// per prey eaten, predator death.
template <class T>
class LotkaVolterraField final : public VectorField<T> {
 public:
  Index state_dim() const override { return 2; }
  Index param_count() const override { return 4; }
  std::string name() const override { return "lotka-volterra"; }

  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  std::unique_ptr<VectorField<T>> clone() const override;

  /// (α, β, δ, γ) = (1.5, 1, 1, 3).
  Vector<T> default_params() const;
};

extern template class LotkaVolterraField<float>;
extern template class LotkaVolterraField<double>;

}  // namespace revode
