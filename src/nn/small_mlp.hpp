/// Fixed-size batch-1 kernels for small one-hidden-layer tanh MLPs (issue 17's "fixed-size
/// kernels for small widths chosen at one dispatch point"): the white-dwarf field [t, y] → 10
/// tanh → 2 and a few other small shapes. Every size is a template parameter, so there are no
/// run-time trip counts or tail branches, the hidden σ stays in registers between the layers,
/// and the thin output layer is a set of independent partial sums instead of one long
/// dependent chain. `Mlp` picks its kernels once, at construction (`small_mlp::find`); other
/// shapes, activations and batches keep the generic path. Internal to src/nn.
///
/// Rounding: the sums run in another order than the generic kernels' (the fixed path agrees
/// with them to a few ulp of the largest output, not bit for bit), but an Mlp that uses the fixed
/// path uses it for every batch-1 evaluation and VJP, and a VJP that takes a forward-tape entry
/// runs the same backward code on the same σ as one that recomputes it, so the tape's bit-identity
/// holds.
#pragma once

#include "revode/core/types.hpp"
#include "revode/nn/mlp.hpp"

namespace revode::small_mlp {

/// One shape's kernels, on one contiguous column. θ in Mlp's layout (W1 column-major with the
/// t column first when time_input, then b1, W2, b2).
template <class T>
struct Kernels {
  /// dy = f(t, y; θ). sigma: where to write the hidden layer's σ (hidden scalars; the forward
  /// tape's entry is built from it), or null. dy must not alias y.
  void (*eval)(T t, const T* y, const T* theta, T* dy, T* sigma);
  /// ȳ = aᵀ ∂f/∂y, θ̄ += aᵀ ∂f/∂θ. sigma: σ at (t, y) as eval wrote it (a tape entry), or
  /// null to recompute it. y_bar may alias y; it must not alias a.
  void (*vjp)(T t, const T* y, const T* theta, const T* a, T* y_bar, T* theta_bar, const T* sigma);
  Index hidden;  ///< the hidden width (σ's length)
};

/// The kernels for spec's shape, or null when it has none (not one hidden layer, not tanh, a
/// shape outside the table, or a shape whose padded packet loads would leave θ).
template <class T>
const Kernels<T>* find(const MlpSpec& spec);

}  // namespace revode::small_mlp
