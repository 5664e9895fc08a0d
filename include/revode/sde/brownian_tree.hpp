/// A virtual Brownian tree (Gaines & Lyons 1997; Li, Wong, Chen & Duvenaud 2020, "Scalable
/// gradients for stochastic differential equations", §4): an m-dimensional Brownian path on
/// [t0, t1] that is never stored. W(t) is found by descending a binary tree of Brownian-bridge
/// midpoints whose normal draws come from a counter-based generator (Random123's Philox4x64,
/// Salmon et al. 2011) keyed by (seed, batch column) and counted by the tree node. Every query
/// is therefore a pure function of (seed, column, t): the backward pass of a gradient method
/// asks for the same increments again and gets them bit for bit, in any order, storing nothing.
#pragma once

#include <cstdint>

#include "revode/core/types.hpp"

namespace revode {

/// The iterated integrals a tree gives besides W (diffrax's `levy_area`):
/// - none:       W only, the tree of Li et al. (the default, and the path every increment-only
///               solver has always seen);
/// - space_time: W and the space-time Lévy area H_{s,t} = (1/h) ∫_s^t (W_r − W_s −
///               (r − s)/h W_{s,t}) dr, h = t − s, of any interval (Foster 2020, Def. 4.2.1),
///               for solvers such as ShARK (shark.hpp).
/// The two are different trees: the midpoint of [s, u] given (W_{s,u}, H_{s,u}) has variance
/// h/16, not the Brownian bridge's h/4 (H carries information about it: corr(W_{s,m}, H_{s,u}) =
/// √3/2), so no tree can give H of every interval and keep the increment-only tree's W.
/// With the same seed the two paths are independent draws.
enum class LevyArea { none, space_time };

/// Seeds are the non-negative 64-bit signed integers (what a CLI flag, a JSON number or a
/// Python int can hold without ambiguity).
inline constexpr std::int64_t kMaxBrownianSeed = INT64_MAX;

class BrownianTree {
 public:
  /// Levels of the tree are added until an interval is no wider than `tolerance` (relative to
  /// t1 − t0); below that W is linear between the two nodes. A query costs one bridge draw per
  /// level: O(log((t1 − t0) / tolerance)), at most 60 levels.
  /// @throws revode::Error unless t0 < t1 are finite, noise_dim ≥ 1, 0 ≤ seed ≤
  /// kMaxBrownianSeed and tolerance ∈ [2^-60, 1).
  BrownianTree(double t0, double t1, Index noise_dim, std::int64_t seed, double tolerance = 0x1p-40,
               LevyArea levy_area = LevyArea::none);

  double t0() const { return t0_; }
  double t1() const { return t1_; }
  Index noise_dim() const { return noise_dim_; }
  std::int64_t seed() const { return seed_; }
  int levels() const { return levels_; }
  LevyArea levy_area() const { return levy_area_; }

  /// W(t) for batch columns [first_column, first_column + out.cols()): out is noise_dim × n.
  /// W(t0) = 0. Column c is the path keyed by (seed, c): one independent path per sample.
  /// @throws revode::Error unless t ∈ [t0, t1] (a little round-off outside is clamped).
  void value(double t, Eigen::Ref<Batch<double>> out, Index first_column = 0) const;

  /// W(t) − W(s) (either order) for the columns of `out`, as value() at both ends.
  void increment(double s, double t, Eigen::Ref<Batch<double>> out, Index first_column = 0) const;

  /// W(t) − W(s) into `dw` and the space-time Lévy area H_{s,t} into `area` (both
  /// noise_dim × n) for s < t, from W and Ā(t) = (t − t0) H_{t0,t} at both ends by Chen's
  /// relation (see brownian_tree.cpp). A pure function of (seed, column, s, t) like increment().
  /// @throws revode::Error unless the tree was built with LevyArea::space_time and s < t.
  void increment_with_area(double s, double t, Eigen::Ref<Batch<double>> dw,
                           Eigen::Ref<Batch<double>> area, Index first_column = 0) const;

 private:
  /// `count` (default noise_dim) standard normals of tree node `node` for one column, into
  /// `out`; `stream` separates the space-time tree's draws from the increment-only tree's (0).
  void normals(std::uint64_t node, Index column, double* out, std::uint64_t stream = 0,
               Index count = -1) const;
  void column_value(double t, Index column, double* out) const;
  /// W(t) and Ā(t) = (t − t0) H_{t0,t} of one column on the space-time tree.
  void column_value_with_area(double t, Index column, double* w, double* area) const;
  void check_query(double& t, Index rows, Index first_column) const;

  double t0_, t1_;
  Index noise_dim_;
  std::int64_t seed_;
  int levels_;
  LevyArea levy_area_;
};

}  // namespace revode
