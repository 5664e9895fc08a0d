// Small DEQ layers, seeded inputs and the linear loss L = Σ w ∘ z_n shared by tests/deq.
#pragma once

#include <random>

#include "revode/deq/deq_gradient.hpp"

namespace revode::testing {

/// dim × cols entries uniform in [−scale, scale), deterministic in seed.
inline Batch<double> seeded_block(Index dim, Index cols, unsigned seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-scale, scale);
  Batch<double> out(dim, cols);
  for (Index i = 0; i < out.size(); ++i) out.data()[i] = u(rng);
  return out;
}

/// L = Σ w ∘ z_n after a forward solve with `options` (its gradient only decides the tape).
template <class T>
double linear_loss(const DeqLayer<T>& layer, const Batch<T>& x, const Vector<T>& theta,
                   const DeqOptions& options, const Batch<T>& w) {
  const DeqForward<T> fwd = deq_forward(layer, x, theta, options);
  return static_cast<double>(w.cwiseProduct(fwd.z).sum());
}

/// Forward then backward of the linear loss: ∂L/∂z_n = w.
template <class T>
DeqGradientResult<T> linear_loss_gradient(const DeqLayer<T>& layer, const Batch<T>& x,
                                          const Vector<T>& theta, const DeqOptions& options,
                                          const Batch<T>& w) {
  const DeqForward<T> fwd = deq_forward(layer, x, theta, options);
  return deq_backward(layer, fwd, x, theta, w);
}

}  // namespace revode::testing
