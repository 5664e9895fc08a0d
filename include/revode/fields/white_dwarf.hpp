/// Chandrasekhar's white dwarf equation (Chandrasekhar 1935, 1939 ch. XI) as used in the
/// reversible-solver experiments (McCallum & Foster 2024; shared/ALGORITHMS.md §6):
/// y1' = y2, y2' = −max(y1² − C, 0)^(3/2) − 2 y2 / (t + 0.5), θ = (C), y(0) = (1, 0), t ∈ [0, 5].
#pragma once

#include <memory>
#include <string>

#include "revode/core/types.hpp"
#include "revode/core/vector_field.hpp"

namespace revode {

/// State (y1, y2) = (φ, φ'), the dimensionless potential of the Lane–Emden-type equation
/// φ'' + (2/η) φ' = −(φ² − C)^(3/2) with η = t + 0.5: the published shift keeps 2/η finite
/// at t = 0. The field is defined for t > −0.5.
///
/// Where y1² < C the real power of a negative base is undefined (std::pow gives NaN). We take
/// max(y1² − C, 0): physically the density is zero beyond the star's surface (φ² = C), and the
/// clamped term is C¹ in (y1, C) — its derivative 3 y1 sqrt(·) vanishes at the surface — so the
/// VJP stays exact and no NaN appears silently.
template <class T>
class WhiteDwarfField final : public VectorField<T> {
 public:
  /// The published shift of time: η = t + time_shift.
  static constexpr T time_shift = T(0.5);

  Index state_dim() const override { return 2; }
  Index param_count() const override { return 1; }
  std::string name() const override { return "white-dwarf"; }

  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  std::unique_ptr<VectorField<T>> clone() const override;

  /// (C) = (0.001), as published.
  Vector<T> default_params() const;
};

extern template class WhiteDwarfField<float>;
extern template class WhiteDwarfField<double>;

}  // namespace revode
