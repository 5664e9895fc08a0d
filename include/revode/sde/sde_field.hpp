/// The SDE problem dy = f(t, y; θ) dt + g(t, y; θ) ∘ dW: a VectorField whose `eval` is the
/// drift f, plus the diffusion g and its VJP. θ is one vector shared by drift and diffusion, so
/// every gradient method sees an SDE as it sees an ODE field (DESIGN.md "SDEs and CDEs as
/// terms", after diffrax's MultiTerm(ODETerm, ControlTerm)).
#pragma once

#include <string>
#include <string_view>

#include "revode/core/vector_field.hpp"

namespace revode {

/// How g(t, y) acts on the m-dimensional noise increment dW (torchsde's noise types):
/// - diagonal: m = d, g is d values per sample, (g dW)_i = g_i dW_i;
/// - scalar:   m = 1, g is d values per sample, (g dW)_i = g_i dW_0;
/// - additive: g(t) is a d × m matrix that does not depend on y (or θ's state-dependence);
/// - general:  g(t, y) is a d × m matrix per sample (d·m values, column-major).
enum class NoiseType { diagonal, scalar, additive, general };

std::string_view noise_type_name(NoiseType type);
/// @throws revode::Error naming the value and the four accepted names.
NoiseType parse_noise_type(std::string_view name);

/// Rows of g per sample: d for diagonal and scalar noise, d·m for additive and general.
Index diffusion_rows(NoiseType type, Index state_dim, Index noise_dim);

template <class T>
class SdeField : public VectorField<T> {
 public:
  /// The Brownian path of column b is the path of (seed, b): a column chunk would be driven by
  /// the first columns' noise, so SDE batches are never split.
  bool column_local() const override { return false; }

  virtual NoiseType noise_type() const = 0;
  /// m, the dimension of the Brownian motion.
  virtual Index noise_dim() const = 0;
  Index diffusion_rows() const {
    return revode::diffusion_rows(noise_type(), this->state_dim(), noise_dim());
  }

  /// g = g(t, y; θ): diffusion_rows() × batch.
  virtual void diffusion(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                         BatchRef<T> g) const = 0;
  /// y_bar = ⟨g_bar, ∂g/∂y⟩ (overwritten); theta_bar += ⟨g_bar, ∂g/∂θ⟩ over the batch.
  virtual void diffusion_vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                             const ConstBatchRef<T>& g_bar, BatchRef<T> y_bar,
                             VectorRef<T> theta_bar) const = 0;
};

/// out = g dW per sample for the noise type (g: diffusion_rows × batch, dW: m × batch,
/// out: d × batch).
template <class T>
void apply_noise(NoiseType type, const ConstBatchRef<T>& g, const ConstBatchRef<T>& dw,
                 BatchRef<T> out);

/// The transpose in g: g_bar = ∂⟨a, g dW⟩/∂g for fixed dW (a: d × batch), written or, when
/// `accumulate`, added to g_bar.
template <class T>
void apply_noise_vjp(NoiseType type, const ConstBatchRef<T>& a, const ConstBatchRef<T>& dw,
                     BatchRef<T> g_bar, bool accumulate);

/// Throws revode::Error naming the field, t and the first non-finite entry unless g is finite.
template <class T>
void require_finite_diffusion(const SdeField<T>& field, T t, const ConstBatchRef<T>& g);

}  // namespace revode
