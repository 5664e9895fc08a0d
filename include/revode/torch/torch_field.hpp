/// TorchField: a TorchScript module `forward(t, y)` (saved by `torch.jit.script(m).save(path)`)
/// as a revode vector field, with its VJP by torch autograd and θ = the module's parameters in
/// one flat vector. Optional component (target revode::torch, built when libtorch is found;
/// docs/torch-field.md). This header includes no torch header: the module lives behind a
/// pointer to an implementation compiled in one translation unit (integrations/torch).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "revode/core/types.hpp"
#include "revode/core/vector_field.hpp"

namespace revode {

struct TorchFieldOptions {
  /// Length of one state vector. 0: read the module's int attribute `state_dim` (a TorchScript
  /// module does not declare the shape its forward expects).
  Index state_dim = 0;
  /// Throw revode::Error when forward returns NaN or ±Inf. Off: the values reach the solver,
  /// which rejects the step (adaptive steps) or reports a non-finite state.
  bool check_finite = true;
};

/// One parameter of the module as it lies in θ.
struct TorchParameter {
  std::string name;          ///< dotted, as named_parameters() gives it ("net.0.weight")
  std::vector<Index> shape;  ///< the tensor's sizes
  Index offset = 0;          ///< first entry in θ; entries follow in row-major order
};

/// y' = module.forward(t, y) with y the dim × batch block viewed (no copy) as a batch × dim
/// row-major tensor of T's dtype and t a 0-dim tensor of the same dtype; forward must return
/// a batch × dim tensor of that dtype. The module is put in eval mode and its floating
/// parameters and buffers are converted to T (Module::to) when loaded.
///
/// θ: every parameter of the module (recursively, requires_grad or not, in named_parameters
/// order), each flattened row-major, concatenated. eval and vjp use the θ they are passed:
/// it is copied into the module's parameters (one memcpy of param_count() scalars, which the
/// parameters share as one buffer) on every call.
///
/// Differences from the VectorField contract: calls allocate (inside torch), and the VJP
/// builds and frees its own autograd graph per call, so intermediate_floats() is 0. One
/// instance must not be called from two threads at once (θ is copied into it); clone() gives
/// an independent deep copy of the module. torch parallelises each call over its intra-op
/// thread pool (at::set_num_threads, OMP_NUM_THREADS): at small batches one thread is faster.
template <class T>
class TorchField final : public VectorField<T> {
 public:
  /// Loads the module. Throws revode::Error naming the path when the file does not exist, is
  /// not a TorchScript archive, has no forward(t, y), or no state dimension is known.
  explicit TorchField(const std::string& path, TorchFieldOptions options = {});
  ~TorchField() override;
  TorchField(TorchField&&) noexcept;
  TorchField& operator=(TorchField&&) noexcept;

  Index state_dim() const override;
  Index param_count() const override;
  /// "torchscript:PATH".
  std::string name() const override;

  /// dy = forward(t, y) under NoGradGuard. Throws revode::Error naming the module when the
  /// result is not a tensor of shape batch × dim and dtype T, not finite (check_finite), or
  /// forward raised (its message included).
  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  /// One forward with y as a leaf requiring grad, then torch::autograd::grad with cotangent a:
  /// y_bar = aᵀ ∂f/∂y (overwritten; may alias y), theta_bar += aᵀ ∂f/∂θ. Parameters forward
  /// does not use get zero. Same errors as eval.
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  std::unique_ptr<VectorField<T>> clone() const override;

  /// The module's parameter values as loaded (converted to T): the natural initial θ.
  Vector<T> initial_params() const;
  /// Where each parameter lies in θ, in θ order.
  const std::vector<TorchParameter>& parameters() const;
  const std::string& path() const;

 private:
  struct Impl;
  explicit TorchField(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

extern template class TorchField<float>;
extern template class TorchField<double>;

}  // namespace revode
