/// The control path X(t) of a neural CDE, interpolated through observations x_0 … x_{K−1} at
/// increasing knot times t_0 < … < t_{K−1} (Kidger et al. 2020, "Neural controlled differential
/// equations for irregular time series"; the schemes of torchcde). Every scheme here is linear
/// in the observations: X(t) = Σ_k v_k(t) x_k and X'(t) = Σ_k w_k(t) x_k with weights that depend
/// on the times only, so the VJP of X' with respect to the observations is w(t) times the
/// cotangent, with no solve in the backward pass (the natural spline's solve is folded into
/// the weights once, at construction).
#pragma once

#include <string_view>
#include <vector>

#include "revode/core/types.hpp"

namespace revode {

enum class Interpolation {
  linear,   ///< piecewise linear: X' jumps at every knot (see docs/cde.md on knots)
  hermite,  ///< torchcde's hermite_cubic_coefficients_with_backward_differences: C¹, causal
  natural,  ///< natural cubic spline (X'' = 0 at both ends): C², not causal
};

/// "linear", "hermite" or "natural".
std::string_view interpolation_name(Interpolation scheme);
/// @throws revode::Error naming `name` and the known schemes.
Interpolation parse_interpolation(std::string_view name);

/// The weights of one interpolation scheme over fixed knot times. Outside [t_0, t_{K−1}] the
/// first or last piece is extended (as torchcde does).
class ControlPath {
 public:
  /// @throws revode::Error unless there are ≥ 2 times, all finite and strictly increasing.
  ControlPath(std::vector<double> times, Interpolation scheme);

  Index knots() const { return Index(times_.size()); }
  const std::vector<double>& times() const { return times_; }
  Interpolation scheme() const { return scheme_; }

  /// v(t): X(t) = Σ_k v_k x_k. `weights` is resized to knots().
  void value_weights(double t, Vector<double>& weights) const;
  /// w(t): X'(t) = Σ_k w_k x_k. `weights` is resized to knots() (no allocation once sized).
  void derivative_weights(double t, Vector<double>& weights) const;
  /// The knots whose weights can be non-zero at t: [first, last] (all knots for "natural").
  std::pair<Index, Index> support(double t) const;

 private:
  /// The piece t lies on: k with t_k ≤ t < t_{k+1}, clamped to [0, K − 2].
  Index piece(double t) const;
  /// Adds `scale` · (the backward difference slope entering knot j) to `weights`: the slope of
  /// piece j − 1, or of piece 0 for j = 0 (torchcde's "x_0 − x_{−1} = x_1 − x_0").
  void add_slope_into(Index j, double scale, Vector<double>& weights) const;

  std::vector<double> times_;
  Interpolation scheme_;
  /// Natural spline: the second derivatives M = S x at the knots (K × K, rows 0 and K−1 zero).
  Batch<double> second_derivatives_;
};

}  // namespace revode
