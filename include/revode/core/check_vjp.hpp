/// check_vjp: compares a field's hand-written VJP with central finite differences of its
/// eval in seeded random directions, for both the state part and the parameter part.
/// After Ceres' public GradientChecker (ceres-solver: include/ceres/gradient_checker.h).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "revode/core/types.hpp"
#include "revode/core/vector_field.hpp"

namespace revode {

struct VjpCheckOptions {
  /// Finite-difference step. 0 picks cbrt(ε) · max(1, ‖x‖∞) separately for y and θ (ε of the
  /// field's scalar type): the step that balances truncation O(h²) against rounding O(ε/h).
  double step = 0.0;
  /// Random (cotangent, y-direction, θ-direction) triples drawn; one VJP and four evals each.
  int directions = 4;
  std::uint64_t seed = 0x5eedULL;
};

struct VjpCheckReport {
  /// max over directions of |⟨y_bar, u⟩ − fd| / max(|fd|, |⟨y_bar, u⟩|, noise floor), where fd is
  /// the central difference of ⟨a, f⟩ along u; +inf when anything was non-finite.
  double max_relative_error_y = 0.0;
  /// The same for the θ part (0 for a field without parameters).
  double max_relative_error_theta = 0.0;
  /// One line with both errors, the steps used, and what went wrong if anything did.
  std::string message;

  bool within(double tolerance) const {
    return max_relative_error_y <= tolerance && max_relative_error_theta <= tolerance;
  }
};

/// Checks f.vjp at (t, y, θ) against central differences of f.eval.
///
/// Besides the values it also checks the VJP contract: y_bar is pre-filled with NaN (so an
/// entry left unwritten shows up) and theta_bar with random offsets that are subtracted after
/// the call (so a field that overwrites instead of accumulating shows up); dy is pre-filled
/// with NaN too (eval must not read it).
/// The denominator's noise floor ε · Σ|a ∘ f(y)| / h is the rounding noise of the difference
/// itself: below it the finite difference cannot tell a value from zero.
/// @param y state_dim × batch, batch ≥ 1. @param theta param_count entries.
/// @throws revode::Error on shape mismatch, a non-finite t or invalid options. Allocates (a test
/// utility).
/// T is deduced from f alone (type_identity_t), so plain matrices and literals convert.
template <class T>
VjpCheckReport check_vjp(const VectorField<T>& f, std::type_identity_t<T> t,
                         const std::type_identity_t<ConstBatchRef<T>>& y,
                         const std::type_identity_t<ConstVectorRef<T>>& theta,
                         const VjpCheckOptions& opts = {});

extern template VjpCheckReport check_vjp<float>(const VectorField<float>&, float,
                                                const ConstBatchRef<float>&,
                                                const ConstVectorRef<float>&,
                                                const VjpCheckOptions&);
extern template VjpCheckReport check_vjp<double>(const VectorField<double>&, double,
                                                 const ConstBatchRef<double>&,
                                                 const ConstVectorRef<double>&,
                                                 const VjpCheckOptions&);

}  // namespace revode
