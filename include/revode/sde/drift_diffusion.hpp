/// An SdeField made of a drift (any VectorField: an MLP, an analytic field) and a diffusion
/// from the spec language of the front ends:
///   const:V[,V...]   g = σ, constant (θ_g = σ): any noise type, the additive one's natural g;
///   linear:V[,V...]  g_i = σ_i y_i (diagonal, scalar) or g_ij = σ_ij y_i (general): geometric
///                    Brownian motion; θ_g = σ;
///   mlp:d,H...,K     g = an MLP ℝ^d → ℝ^K (K = d for diagonal/scalar, d·m for general).
/// θ = [θ_f; θ_g]: one vector, so gradients to both come out of every gradient method.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "revode/nn/activation.hpp"
#include "revode/sde/sde_field.hpp"

namespace revode {

/// The diffusion part of a DriftDiffusion field (one of the three spec kinds).
template <class T>
class Diffusion {
 public:
  virtual ~Diffusion() = default;
  virtual std::string name() const = 0;
  virtual Index param_count() const = 0;
  virtual bool depends_on_state() const = 0;
  virtual void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                    BatchRef<T> g) const = 0;
  /// y_bar overwritten, theta_bar accumulated.
  virtual void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                   const ConstBatchRef<T>& g_bar, BatchRef<T> y_bar,
                   VectorRef<T> theta_bar) const = 0;
  virtual std::unique_ptr<Diffusion<T>> clone() const = 0;
};

/// A parsed diffusion: the object, its default θ_g and the noise dimension m it implies.
template <class T>
struct DiffusionBuild {
  std::unique_ptr<Diffusion<T>> diffusion;
  Vector<T> default_params;
  Index noise_dim = 0;
};

/// Parses `spec` for a state of dimension d and the noise type. For general/additive noise
/// m = (number of values or MLP output width) / d, except that one value means m = d. MLP
/// parameters are drawn from `seed` (PyTorch's default initialisation).
/// @throws revode::Error naming the spec and what the noise type expects (shape mismatch,
/// a y-dependent g with additive noise, non-finite values).
template <class T>
DiffusionBuild<T> make_diffusion(std::string_view spec, NoiseType noise, Index state_dim,
                                 Activation activation, std::uint64_t seed);

template <class T>
class DriftDiffusion final : public SdeField<T> {
 public:
  /// @throws revode::Error on shape mismatch between g's rows and the noise type.
  DriftDiffusion(std::unique_ptr<VectorField<T>> drift, std::unique_ptr<Diffusion<T>> diffusion,
                 NoiseType noise, Index noise_dim);

  Index state_dim() const override { return drift_->state_dim(); }
  Index param_count() const override { return drift_->param_count() + diffusion_->param_count(); }
  std::string name() const override;
  NoiseType noise_type() const override { return noise_; }
  Index noise_dim() const override { return noise_dim_; }
  const VectorField<T>& drift() const { return *drift_; }

  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  void diffusion(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                 BatchRef<T> g) const override;
  void diffusion_vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                     const ConstBatchRef<T>& g_bar, BatchRef<T> y_bar,
                     VectorRef<T> theta_bar) const override;
  Index intermediate_floats(Index batch) const override {
    return drift_->intermediate_floats(batch);
  }
  std::unique_ptr<VectorField<T>> clone() const override;

 private:
  std::unique_ptr<VectorField<T>> drift_;
  std::unique_ptr<Diffusion<T>> diffusion_;
  NoiseType noise_;
  Index noise_dim_;
};

extern template class DriftDiffusion<float>;
extern template class DriftDiffusion<double>;

}  // namespace revode
