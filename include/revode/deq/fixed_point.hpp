/// Forward solvers for z* = f(z*, x): the plain fixed-point iteration and the reversible
/// iteration of McCallum, Arora & Foster (2025, arXiv 2509.12917; ALGORITHMS.md §5), with the
/// published stopping rule, the options shared with the gradients, and the solve statistics.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "revode/core/stats.hpp"
#include "revode/core/types.hpp"
#include "revode/deq/deq_layer.hpp"
#include "revode/gradients/reversible_guard.hpp"

namespace revode {

enum class FixedPointSolver {
  plain,       ///< z_{n+1} = f(z_n, x); rate L for an L-contraction
  reversible,  ///< the coupled (y, z) iteration below; exactly invertible for β ≠ 1
};

/// How ∂L/∂θ and ∂L/∂x are obtained from ∂L/∂z (deq/deq_gradient.hpp).
enum class DeqGradient {
  reversible,  ///< rebuild the iterates by the exact inverse and backpropagate; O(1) memory
  implicit,    ///< implicit-function adjoint g = Jᵀg + ∂L/∂z at z*; O(1) memory, inexact
  backprop,    ///< store every iterate and backpropagate; O(iterations) memory, the reference
};

std::string_view solver_name(FixedPointSolver solver);  ///< "plain" or "reversible"
std::string_view gradient_name(DeqGradient gradient);   ///< "reversible", "implicit", "backprop"
/// Parse the names above; throw revode::Error listing the valid ones.
FixedPointSolver parse_fixed_point_solver(std::string_view name);
DeqGradient parse_deq_gradient(std::string_view name);

/// Everything a DEQ forward and backward depends on. Iterations start from y₀ = z₀ = 0.
struct DeqOptions {
  FixedPointSolver solver = FixedPointSolver::reversible;
  /// Reversible iteration, β ∈ (0, 2), β ≠ 1 (β = 1 decouples y and z and has no inverse):
  ///   y_{n+1} = (1−β) y_n + β f(z_n, x),   z_{n+1} = (1−β) z_n + β f(y_{n+1}, x).
  /// For an L-contraction it converges at rate ≤ |1−β| + βL (< 1 when β < 2/(1+L)).
  double beta = 0.5;
  /// Stop at the first n with ‖z_n − f(z_n)‖ < tol·‖f(z_n)‖ + 1e-8 for every sample (2-norms
  /// per column), or at n = max_steps. tol ≥ 0.
  double tol = 1e-6;
  Index max_steps = 50;  ///< ≥ 1
  DeqGradient gradient = DeqGradient::reversible;
  /// Implicit adjoint: stop when ‖g_{k+1} − g_k‖ < adjoint_tol·‖g_{k+1}‖ + 1e-8 per sample, or
  /// after adjoint_max_steps. Unset: the forward tol and max_steps.
  std::optional<double> adjoint_tol;
  std::optional<Index> adjoint_max_steps;
  /// Gradient reversible: what the backward pass does when the rebuilt start iterates
  /// (exactly zero) drift beyond the tolerance, relative to ‖z_n‖∞ (gradients/reversible_guard.hpp).
  ReversibleGuard guard;
};

/// Throws revode::Error naming the option, its value and the rule (β = 1, β ∉ (0, 2), tol < 0,
/// max_steps < 1, or gradient reversible with the plain solver).
void validate(const DeqOptions& options);

/// The absolute term of the stopping rules.
inline constexpr double kDeqAbsoluteTol = 1e-8;

struct DeqStats {
  Index iterations = 0;          ///< forward iterations n (z_n is the output)
  double residual = 0;           ///< max over samples of ‖z_n − f(z_n)‖ / ‖f(z_n)‖
  bool converged = false;        ///< the stopping rule held (false: max_steps reached)
  Index nfe = 0;                 ///< forward evaluations of f: n + 1 plain, 2n + 1 reversible
  Index backward_nfe = 0;        ///< evaluations of f in the backward pass (reconstruction)
  Index nvjp = 0;                ///< VJPs of f in the backward pass
  Index adjoint_iterations = 0;  ///< implicit: fixed-point iterations of the adjoint
  double adjoint_residual = 0;  ///< implicit: max over samples of ‖g_{k+1} − g_k‖ / ‖g_{k+1}‖
  /// Peak scalars held by the gradient method: iterates, cotangents, scratch and the layer's
  /// workspace (DeqLayer::workspace_floats); the forward's when no backward has run.
  Index stored_floats = 0;
  /// Reversible: max(‖ỹ₀‖∞, ‖z̃₀‖∞) / max(‖z_n‖∞, tiny), where (ỹ₀, z̃₀) are the starting
  /// iterates (exactly 0) as rebuilt by the backward walk: round-off amplified by about
  /// 1/λ_min of the linearised step (≥ |1−β|⁻¹) per inverse step. 0 for the other methods.
  double reconstruction_error = 0;
  GuardStats guard;  ///< gradient reversible: the reconstruction guard's check and repair

  std::string brief() const;
};

/// The forward solve and what the chosen gradient needs from it.
template <class T>
struct DeqForward {
  Batch<T> z;  ///< z_n, state_dim × batch: the layer's output
  Batch<T> y;  ///< reversible solver: y_n (the other half of the invertible state); else empty
  /// gradient backprop only: the points f was evaluated at, in order (plain: z_0 … z_{n−1};
  /// reversible: z_0, y_1, z_1, y_2, …, z_{n−1}, y_n); empty otherwise.
  std::vector<Batch<T>> tape;
  DeqStats stats;
  DeqOptions options;  ///< as solved with (the backward pass checks it is given the same)
};

/// Solves for the fixed point from y₀ = z₀ = 0.
/// @param x input_dim × batch; @param theta param_count.
/// @throws revode::Error on invalid options or shapes. Never throws on non-convergence:
/// stats.converged says whether the rule held; non-finite iterates throw revode::Error.
template <class T>
DeqForward<T> deq_forward(const DeqMap<T>& layer, const std::type_identity_t<ConstBatchRef<T>>& x,
                          const std::type_identity_t<ConstVectorRef<T>>& theta,
                          const DeqOptions& options);

extern template DeqForward<float> deq_forward(const DeqMap<float>&, const ConstBatchRef<float>&,
                                              const ConstVectorRef<float>&, const DeqOptions&);
extern template DeqForward<double> deq_forward(const DeqMap<double>&, const ConstBatchRef<double>&,
                                               const ConstVectorRef<double>&, const DeqOptions&);

}  // namespace revode
