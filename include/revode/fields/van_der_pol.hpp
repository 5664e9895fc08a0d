/// The Van der Pol oscillator x' = y, y' = μ(1 − x²)y − x (van der Pol 1926), θ = (μ).
/// μ = 1 (default) gives a smooth limit cycle; large μ makes it stiff (Hairer–Wanner II, IV.1).
#pragma once

#include <memory>
#include <string>

#include "revode/core/types.hpp"
#include "revode/core/vector_field.hpp"

namespace revode {

/// State (x, y) = (position, velocity); θ = (μ), the nonlinear damping.
template <class T>
class VanDerPolField final : public VectorField<T> {
 public:
  Index state_dim() const override { return 2; }
  Index param_count() const override { return 1; }
  std::string name() const override { return "van-der-pol"; }

  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  std::unique_ptr<VectorField<T>> clone() const override;

  /// (μ) = (1).
  Vector<T> default_params() const;
};

extern template class VanDerPolField<float>;
extern template class VanDerPolField<double>;

}  // namespace revode
