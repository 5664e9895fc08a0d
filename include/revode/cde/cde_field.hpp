/// A neural controlled differential equation dz = f_θ(z) dX(t) (Kidger et al. 2020) as an
/// ordinary vector field: between knots it is the ODE z' = f_θ(z) X'(t), so every solver
/// (reversible ones included) and every gradient method applies unchanged, and the gradient
/// with respect to the observations comes out of the same VJP because X' is linear in them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "revode/cde/control_path.hpp"
#include "revode/core/vector_field.hpp"
#include "revode/nn/mlp.hpp"

namespace revode {

/// f_θ: an MLP from the hidden state z (hidden entries) to hidden × channels values, read as
/// the matrix F(z) (column-major: F(z)_{ij} = out[i + hidden·j]), with tanh on the output as
/// Kidger et al. (their f ends in tanh to keep the vector field bounded).
struct CdeSpec {
  Index hidden = 0;                  ///< state dimension h
  std::vector<Index> hidden_widths;  ///< the MLP's hidden layer widths (may be empty: linear)
  Activation activation = Activation::tanh;
  bool tanh_output = true;
};

/// θ layout: [the MLP's θ (network_param_count(), layout on Mlp) | the path values
/// (channels × knots × batch, values[c + channels·(k + knots·b)], ObservationPath's layout)].
/// Column b of the state is sample b and is driven by sample b's own path, so the batch is
/// fixed at construction and the observation part of θ̄ is per sample (no sum over the batch
/// there). z' = F(z) X'(t) for t anywhere (the path is extended outside its knots).
template <class T>
class CdeField final : public VectorField<T> {
 public:
  /// @throws revode::Error unless hidden ≥ 1, channels ≥ 1, batch ≥ 1 and the MLP is valid.
  CdeField(CdeSpec spec, ControlPath path, Index channels, Index batch);

  Index state_dim() const override { return spec_.hidden; }
  Index param_count() const override { return network_.param_count() + observation_count(); }
  std::string name() const override;

  /// y: hidden × batch with batch == batch() (revode::Error otherwise).
  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  Index intermediate_floats(Index batch) const override;
  /// Column b is driven by sample b's path: the batch is fixed at construction.
  bool column_local() const override { return false; }
  std::unique_ptr<VectorField<T>> clone() const override;

  Index channels() const { return channels_; }
  Index batch() const { return batch_; }
  Index network_param_count() const { return network_.param_count(); }
  /// channels × knots × batch: the length of θ's observation part.
  Index observation_count() const { return channels_ * path_.knots() * batch_; }
  const ControlPath& path() const { return path_; }
  const Mlp<T>& network() const { return network_; }
  const CdeSpec& spec() const { return spec_; }

  /// θ = [the MLP's init_params(init, seed) | observations]. @throws revode::Error when
  /// observations has the wrong length.
  Vector<T> init_params(Init init, std::uint64_t seed,
                        const ConstVectorRef<double>& observations) const;

 private:
  void check_shapes(Index rows, Index cols, Index theta_size) const;
  /// xdot_ = X'(t) per sample and out_ = F(z) (tanh applied), for eval and vjp alike.
  void evaluate_parts(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta) const;

  CdeSpec spec_;
  ControlPath path_;
  Index channels_;
  Index batch_;
  Mlp<T> network_;
  // Scratch, sized on first use.
  mutable Vector<double> weights_;
  mutable Vector<T> weights_t_;
  mutable Batch<T> xdot_;  // channels × batch
  mutable Batch<T> out_;   // hidden·channels × batch
  mutable Batch<T> out_bar_;
  mutable Batch<T> xdot_bar_;  // channels × batch
};

extern template class CdeField<float>;
extern template class CdeField<double>;

}  // namespace revode
