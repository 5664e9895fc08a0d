/// The reconstruction guard of every reversible gradient (reversible backprop over any
/// ReversibleStepper, the reversible DEQ): a gradient computed on states rebuilt by an
/// algebraic inverse is returned only when the rebuilt states are known to be close to the
/// true ones, and otherwise repaired, refused or flagged — never returned silently wrong.
///
/// Why: an inverse step amplifies round-off (McCallum–Foster by about 1/λ per step, damped
/// ALF by 1/|1 − 2η|, the RevDEQ by 1/|1 − β|), so a long walk can rebuild states that are
/// far from the forward's, and the VJPs taken there give a wrong gradient.
///
/// How (DESIGN.md: "guards wrap, they do not fork"; no solver knows about it):
/// 1. Check. The walk ends at a state whose true value is known (the start state x_0 =
///    initialize(y_0); the DEQ's zero start). Its relative drift ‖x̃_0 − x_0‖_∞ / ‖x_0‖_∞
///    is compared with the tolerance. Round-off grows as the walk goes back, so the drift at
///    the start is the walk's largest; a well-conditioned solve pays one comparison.
/// 2. Repair (policy `repair`, the default). The first walk's drift gives the growth rate
///    per step, ρ = (drift / ε)^(1/N); segments of K steps with ε ρ^K ≤ √(tol · ε) keep
///    every segment's drift well inside the tolerance. A forward replay from x_0 keeps the
///    ⌈N/K⌉ segment starts (the anchors), then each segment is walked backwards from its
///    end anchor by inversion and checked against its start anchor; a segment that still
///    drifts (the rate was not uniform) is rolled back and walked again on states stored by
///    a forward replay from its start anchor. Memory: the anchors, plus one segment's states
///    where a segment had to be recomputed — proportional to what the drift demanded.
/// 3. `error` throws ReconstructionError (the drift, where it crossed the tolerance, what to
///    change); `warn` returns the gradient with stats.guard.flagged set (front ends print a
///    warning on stderr).
///
/// The bound: the returned gradient's relative error is estimated by the largest relative
/// drift of the walk it came from, times ȳ0's cancellation (stats.guard.gradient_error_bound).
/// A perturbation δ of the states at which the VJPs are taken changes each VJP by about κ δ,
/// where κ is the field's relative curvature (O(1) for tanh networks and polynomial fields at
/// unit scale), and the adjoint recursion propagates those changes as it propagates the
/// cotangents, so the start state's cotangent x̄0 is off by about δ ‖x̄0‖. θ̄ accumulates
/// without cancelling: the tests measure the ratio θ̄ error / drift on the failing families
/// (damped ALF, small λ, expanding MLPs, float32, adaptive steps, long RevDEQs) and find it
/// ≤ 1. ȳ0 is x̄0's blocks summed by initialize's VJP (McCallum–Foster: ȳ + z̄; reversible
/// Heun: ȳ + ŷ̄ + Jᵀ f̂̄), and those blocks can be orders larger than their sum: on the guard
/// tests' expanding reversible-Heun walk ‖ȳ‖ ≈ ‖ŷ̄‖ ≈ 1.2e7 with opposite signs against
/// ‖ȳ0‖ = 3.8e3, and a repair whose segments drifted 3.7e-13 returned a ȳ0 9.4e-11 from a
/// long-double reference (direct backprop's: 1.2e-12). So the bound multiplies the drift by
/// y0_cancellation = Σ_blocks ‖what the block gives ȳ0‖ / ‖ȳ0‖ (there 6.5e3: each block's
/// part through initialize's VJP, so a reversible Heun's f̂̄ counts as Jᵀ f̂̄), and the accept
/// test and the repair's target use that product: a walk is accepted, or repaired to segments,
/// whose drift times the cancellation meets the tolerance (down to guard_target's floor).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include "revode/core/error.hpp"
#include "revode/core/stats.hpp"
#include "revode/core/types.hpp"

namespace revode {

enum class GuardPolicy { repair, error, warn };

/// "repair" | "error" | "warn"; throws revode::Error naming the choices otherwise.
GuardPolicy parse_guard_policy(std::string_view name);
std::string guard_policy_name(GuardPolicy policy);

/// The guard's settings.
struct ReversibleGuard {
  GuardPolicy policy = GuardPolicy::repair;
  /// Largest relative error accepted: the drift times ȳ0's cancellation (the bound, above);
  /// 0 means the default for the scalar type, default_tolerance<T>().
  double tolerance = 0;

  /// float64: 1e-10, the exactness the project promises (the bound, see above), so a repaired or accepted gradient keeps that promise;
  /// well-conditioned walks stay orders below it (McCallum–Foster, λ = 0.999, 10^5 steps of a
  /// damped spiral: 3e-16). float32: 1e-4, about 800 ε — float32 backprop's own round-off
  /// over a long solve is of that order.
  template <class T>
  static double default_tolerance() {
    return sizeof(T) <= 4 ? 1e-4 : 1e-10;
  }
  template <class T>
  double tolerance_for() const {
    return tolerance > 0 ? tolerance : default_tolerance<T>();
  }
  /// Throws revode::Error unless the tolerance is 0 (default) or finite in (0, 1).
  void validate() const;
};

/// The named error of policy `error`.
class ReconstructionError : public Error {
 public:
  using Error::Error;
};

/// ‖a − b‖_∞ / ‖b‖_∞ (b the true state); +inf when a is not finite, 0 when both are zero.
template <class T>
double relative_drift(const ConstBatchRef<T>& rebuilt, const ConstBatchRef<T>& truth) {
  if (!rebuilt.allFinite()) return std::numeric_limits<double>::infinity();
  const double diff = double((rebuilt - truth).cwiseAbs().maxCoeff());
  const double scale = double(truth.cwiseAbs().maxCoeff());
  return diff == 0 ? 0.0 : diff / std::max(scale, std::numeric_limits<double>::min());
}

/// Segment length K for a walk of `steps` steps whose first pass drifted by `drift`
/// (relative; +inf when it overflowed) in a type with machine epsilon `eps`: K with
/// eps ρ^K ≤ √(tol eps), ρ = (drift/eps)^(1/steps), at least 1.
Index guard_segment_length(double drift, double tolerance, double eps, Index steps);

/// The steps back from the end after which a walk with this drift crossed the tolerance
/// (the same growth-rate estimate), for messages.
Index guard_crossing_step(double drift, double tolerance, double eps, Index steps);

/// What a reversible walk offers the guard's repair: the steps n = 0 … N−1 of a forward map
/// x_{n+1} = Φ_n(x_n), walked backwards while the adjoints accumulate.
template <class T>
class GuardedWalk {
 public:
  virtual ~GuardedWalk() = default;
  virtual Index steps() const = 0;
  /// x ← Φ_n(x), no gradients (the forward replay that places anchors).
  virtual void advance(Index n, Batch<T>& x) = 0;
  /// The walk's current state is x_{n+1}: rebuild x_n by the inverse and pull the adjoints
  /// back through step n.
  virtual void undo_by_inverse(Index n) = 0;
  /// The same with the true x_n given (rebuilt by forward recomputation instead).
  virtual void undo_from(Index n, const ConstBatchRef<T>& x_n) = 0;
  /// The walk's current state (x_{n+1} before undoing step n, x_n after).
  virtual Batch<T>& current() = 0;
  /// Snapshot / restore of everything a step's undo changes besides the current state (the
  /// adjoints, ∂L/∂θ, the save cursor): a drifting segment is rolled back to its snapshot.
  virtual void mark() = 0;
  virtual void rewind() = 0;
  /// Back to the state before the first walk: adjoints as at the end, ∂L/∂θ zero, every
  /// save pending (the repair discards the drifting first walk's gradient).
  virtual void restart() = 0;
  /// Scalars held by the walk's own buffers (for stored_floats).
  virtual Index stored_floats() const = 0;
  /// The drift of a rebuilt state against the true one; by default relative_drift. A walk
  /// whose start state is zero (the DEQ) measures against a scale of its own.
  virtual double drift(const ConstBatchRef<T>& rebuilt, const ConstBatchRef<T>& truth) const {
    return relative_drift<T>(rebuilt, truth);
  }
};

/// parts / whole: `parts` the sum of the norms of what each block of the start state's
/// cotangent x̄0 contributes to ȳ0 through initialize's VJP (the saves at t0 left out: those are
/// exact), `whole` the norm of ȳ0 (Frobenius norms, in double). At least 1, at most 1/eps (a
/// ȳ0 cancelled below round-off of its parts is round-off in any method); 1 when the parts are
/// zero or either is not finite (an overflowed walk is refused on its drift alone).
inline double y0_cancellation(double parts, double whole, double eps) {
  if (!std::isfinite(parts) || !std::isfinite(whole) || parts == 0) return 1;
  return std::max(1.0, parts / std::max(whole, eps * parts));
}

/// The drift a walk's states must meet for a gradient within `tolerance` when ȳ0 cancels
/// `cancellation`-fold: tolerance / cancellation, but not below 16 eps, which is what a few
/// inverted steps reach. Below that no inversion can meet the target, and the repair would
/// recompute every step from stored states (O(N) memory) for a ȳ0 whose round-off, ε times the
/// cancellation, direct backprop has too; such a walk is repaired to 16 eps and flagged.
double guard_target(double tolerance, double cancellation, double eps);

/// Policy on a finished first walk, with the tolerance resolved (tolerance_for<T>()) and eps
/// the scalar type's machine epsilon. The bound is drift × y0_cancellation (1 where the
/// method has no ȳ0 to cancel). Returns true when the gradient stands as it is (bound within
/// tolerance, or policy warn: then flagged); false when it must be repaired; throws
/// ReconstructionError under policy error. Fills stats.drift, tolerance, policy, flagged,
/// y0_cancellation, gradient_error_bound. `what` names the method for messages ("reversible
/// backprop over reversible:midpoint"), `advice` says what to change.
bool guard_accepts(GuardPolicy policy, double tolerance, double eps, double drift, Index steps,
                   const std::string& what, const std::string& advice, GuardStats& stats,
                   double y0_cancellation = 1);

/// The warning a front end prints for a guarded gradient that was repaired or flagged (empty
/// otherwise), one sentence without a trailing newline: what drifted (naming ȳ0's
/// cancellation when the drift alone was within the tolerance), what was done, and the bound.
/// The CLI's JSON and the Python stats carry it as guard.warning.
std::string guard_warning(const GuardStats& stats);

/// The repair (step 2 above): restarts the walk, places anchors by a forward replay from the
/// true start state x0 (the full solver state), then walks the segments backwards from the
/// last, each held to `tolerance` (the caller's guard_target). Sets repaired, the anchor and
/// segment counts of this repair and gradient_error_bound to the worst accepted segment's
/// drift (the caller multiplies by the cancellation); returns the peak scalars held by the
/// anchors, a recomputed segment's states and the walk's snapshot.
template <class T>
Index guard_repair(GuardedWalk<T>& walk, const ConstBatchRef<T>& x0, double tolerance, double eps,
                   double first_drift, GuardStats& stats);

extern template Index guard_repair<float>(GuardedWalk<float>&, const ConstBatchRef<float>&, double,
                                          double, double, GuardStats&);
extern template Index guard_repair<double>(GuardedWalk<double>&, const ConstBatchRef<double>&,
                                           double, double, double, GuardStats&);

}  // namespace revode
