/// The backward pass of a DEQ layer: ∂L/∂θ and ∂L/∂x from ∂L/∂z_n by one of three methods
/// (DeqGradient): reversible (McCallum, Arora & Foster 2025, arXiv 2509.12917: rebuild the
/// iterates by the exact inverse, backpropagate exactly through the iteration), implicit (the
/// implicit-function adjoint of Bai, Kolter & Koltun 2019) or backprop (stored iterates).
#pragma once

#include <type_traits>

#include "revode/deq/deq_layer.hpp"
#include "revode/deq/fixed_point.hpp"

namespace revode {

template <class T>
struct DeqGradientResult {
  Vector<T> grad_params;  ///< ∂L/∂θ, param_count
  Batch<T> grad_x;        ///< ∂L/∂x, input_dim × batch
  DeqStats stats;         ///< the forward's, plus the backward's counters and memory
};

/// Backpropagates z_bar = ∂L/∂z_n through the forward solve `forward` (computed by deq_forward
/// with the same layer, x and θ), with the method forward.options.gradient:
///
/// - reversible: from (y_n, z_n), for k = n−1 … 0 rebuild z_k = (z_{k+1} − β f(y_{k+1}))/(1−β)
///   and y_k = (y_{k+1} − β f(z_k))/(1−β), and apply the transpose of the step:
///   ȳ += β J_f(y_{k+1})ᵀ z̄, z̄ ← (1−β) z̄, then z̄ += β J_f(z_k)ᵀ ȳ, ȳ ← (1−β) ȳ, with θ̄ and
///   x̄ picking up β times both VJPs. Memory is independent of n; costs 2n evaluations and 2n
///   VJPs. Each inverse step amplifies round-off by about 1/λ_min of the linearised step
///   (≈ 2.8 at β = 0.5), so stats.reconstruction_error grows geometrically in n; the gradient
///   error grows far more slowly (measured against backprop: 1e-14 at n = 10, 1e-11 at 20,
///   3e-5 at 40 in float64, README), so keep n small, or watch the reported error.
/// - implicit: solves g = J_f(z_n)ᵀ g + z̄ by fixed-point iteration from g₀ = z̄ (adjoint_tol,
///   adjoint_max_steps), then θ̄ = (∂f/∂θ)ᵀ g, x̄ = (∂f/∂x)ᵀ g at z_n. The exact gradient of
///   L(z*) when z_n = z* and the adjoint converges; an approximation of both otherwise.
/// - backprop: the same transposed steps as reversible, at the stored iterates (n or 2n blocks).
///
/// @param x input_dim × batch; @param theta param_count; @param z_bar state_dim × batch.
/// @throws revode::Error on shape mismatch or a non-finite adjoint.
template <class T>
DeqGradientResult<T> deq_backward(const DeqMap<T>& layer, const DeqForward<T>& forward,
                                  const std::type_identity_t<ConstBatchRef<T>>& x,
                                  const std::type_identity_t<ConstVectorRef<T>>& theta,
                                  const std::type_identity_t<ConstBatchRef<T>>& z_bar);

extern template DeqGradientResult<float> deq_backward(const DeqMap<float>&,
                                                      const DeqForward<float>&,
                                                      const ConstBatchRef<float>&,
                                                      const ConstVectorRef<float>&,
                                                      const ConstBatchRef<float>&);
extern template DeqGradientResult<double> deq_backward(const DeqMap<double>&,
                                                       const DeqForward<double>&,
                                                       const ConstBatchRef<double>&,
                                                       const ConstVectorRef<double>&,
                                                       const ConstBatchRef<double>&);

}  // namespace revode
