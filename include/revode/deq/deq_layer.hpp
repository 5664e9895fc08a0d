/// The map of a deep equilibrium layer, f_θ(z, x) = MLP([z; x]) (Bai, Kolter & Koltun 2019),
/// on a batch of (z, x) pairs with its VJP, and an initialiser that makes z ↦ f(z, x) a
/// contraction at initialisation. The fixed point z* = f(z*, x) is found by deq/fixed_point.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "revode/core/types.hpp"
#include "revode/nn/mlp.hpp"

namespace revode {

/// f: ℝ^{state_dim + input_dim} → ℝ^{state_dim}, an Mlp with widths
/// {state_dim + input_dim, hidden..., state_dim} (hidden may be empty: f is then affine).
struct DeqSpec {
  Index state_dim = 0;  ///< dim of z (and of f's output)
  Index input_dim = 0;  ///< dim of the injected input x
  std::vector<Index> hidden;
  Activation activation = Activation::tanh;
};

/// Throws revode::Error naming the field and its value unless every width is positive.
void validate(const DeqSpec& spec);

/// θ is the Mlp's flat θ (layout on Mlp); the first layer's weight W₁ = [W_z | W_x] has its
/// state_dim z-columns first. Scratch per instance: one instance per thread.
/// The map f_θ(z, x) a DEQ solver and its gradients need (deq_forward, deq_backward): DeqLayer
/// below, or a map defined elsewhere (revode.torch.deq's torch module).
template <class T>
class DeqMap {
 public:
  virtual ~DeqMap() = default;
  virtual Index state_dim() const = 0;
  virtual Index input_dim() const = 0;
  virtual Index param_count() const = 0;
  virtual std::string name() const = 0;
  /// out = f(z, x; θ). z, out: state_dim × batch; x: input_dim × batch. out must not alias z.
  virtual void eval(const ConstBatchRef<T>& z, const ConstBatchRef<T>& x,
                    const ConstVectorRef<T>& theta, BatchRef<T> out) const = 0;
  /// z_bar = aᵀ ∂f/∂z (overwritten); x_bar += aᵀ ∂f/∂x; theta_bar += aᵀ ∂f/∂θ (summed over
  /// the batch). a, z_bar: state_dim × batch; x_bar: input_dim × batch.
  virtual void vjp(const ConstBatchRef<T>& z, const ConstBatchRef<T>& x,
                   const ConstVectorRef<T>& theta, const ConstBatchRef<T>& a, BatchRef<T> z_bar,
                   BatchRef<T> x_bar, VectorRef<T> theta_bar) const = 0;
  /// Scalars one call keeps alive (what a gradient method reports on top of its own buffers).
  virtual Index workspace_floats(Index batch) const { return (void)batch, 0; }
};

template <class T>
class DeqLayer final : public DeqMap<T> {
 public:
  /// Validates spec; throws revode::Error.
  explicit DeqLayer(DeqSpec spec);

  Index state_dim() const override { return spec_.state_dim; }
  Index input_dim() const override { return spec_.input_dim; }
  Index param_count() const override { return mlp_.param_count(); }
  const DeqSpec& spec() const { return spec_; }
  const Mlp<T>& mlp() const { return mlp_; }
  /// e.g. "deq:16,2:32 tanh".
  std::string name() const override;

  /// out = f(z, x; θ). z, out: state_dim × batch; x: input_dim × batch. out must not alias z.
  void eval(const ConstBatchRef<T>& z, const ConstBatchRef<T>& x, const ConstVectorRef<T>& theta,
            BatchRef<T> out) const override;

  /// z_bar = aᵀ ∂f/∂z (overwritten); x_bar += aᵀ ∂f/∂x; theta_bar += aᵀ ∂f/∂θ (summed over
  /// the batch). a, z_bar: state_dim × batch; x_bar: input_dim × batch.
  void vjp(const ConstBatchRef<T>& z, const ConstBatchRef<T>& x, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> z_bar, BatchRef<T> x_bar,
           VectorRef<T> theta_bar) const override;

  /// Scalars one call keeps alive: the stacked [z; x] and its cotangent plus the Mlp's hidden
  /// activations (what a gradient method reports on top of its own buffers).
  Index workspace_floats(Index batch) const override;

  /// An upper bound on the Lipschitz constant of z ↦ f(z, x) in the 2-norm, for every x:
  /// ‖W_z‖₂ · Π_{l ≥ 2} ‖W_l‖₂ · (sup|σ'|)^{hidden layers}. Computed with an SVD (allocates).
  double lipschitz_bound(const ConstVectorRef<T>& theta) const;

  /// A fresh θ from the Mlp initialiser, deterministic in seed. With `contraction` = γ ∈ (0, 1)
  /// the z-columns W_z of the first layer are then scaled down (never up) so that
  /// lipschitz_bound(θ) ≤ γ: f is a γ-contraction in z at initialisation, so the plain
  /// iteration converges at rate ≤ γ and the reversible one at ≤ |1−β| + βγ. This is the
  /// "W scaled" form f = W_L σ(… σ(W_z z + W_x x + b₁) …) + b_L; training may grow ‖W_z‖ again
  /// (watch lipschitz_bound and the solver's residual). std::nullopt: the plain initialiser.
  Vector<T> init_params(Init init, std::uint64_t seed,
                        std::optional<double> contraction = 0.5) const;

  /// Projects θ back into {lipschitz_bound ≤ γ}, γ ∈ (0, 1), by scaling W_z down (never up):
  /// applied after each optimizer step it keeps f a γ-contraction during training as well (a
  /// cheap cousin of spectral normalisation; the SVDs cost far less than one DEQ solve).
  /// θ is double, an optimizer's master copy, whatever T is. @return the bound before.
  double limit_lipschitz(VectorRef<double> theta, double gamma) const;

 private:
  void check(const char* what, Index z_rows, Index x_rows, Index z_cols, Index x_cols,
             Index theta_size) const;
  void stack(const ConstBatchRef<T>& z, const ConstBatchRef<T>& x) const;
  double bound_of(const double* theta) const;  // lipschitz_bound of a double θ, unchecked

  DeqSpec spec_;
  Mlp<T> mlp_;
  mutable Batch<T> stacked_;      // [z; x], (state_dim + input_dim) × batch
  mutable Batch<T> stacked_bar_;  // its cotangent
};

extern template class DeqLayer<float>;
extern template class DeqLayer<double>;

}  // namespace revode
