/// Cotangents of the loss with respect to the saved states, and how each one flows back into
/// the solver state: shared by every gradient method that walks the steps backwards.
#pragma once

#include <vector>

#include "revode/core/vector_field.hpp"
#include "revode/gradients/loss.hpp"
#include "revode/solvers/integrate.hpp"

namespace revode {

/// ∂ℓ_k/∂y_k for one save, with where it sits (see SaveRecord).
template <class T>
struct SaveCotangent {
  double t;
  Index step;
  double s;
  Batch<T> y_bar;
};

/// Adds the cotangent of a save inside step (t0, t1) to the adjoints of the step's ends.
/// Endpoint saves go to y1_bar. A dense save y = h00 y0 + h10 Δ f(t0, y0) + h01 y1 +
/// h11 Δ f(t1, y1) adds to both ends, through one VJP of f at each end; `scratch` (grown to
/// dim × 2·batch once) keeps that allocation-free.
template <class T>
void pull_back_save(const VectorField<T>& f, const SaveCotangent<T>& save, double t0, double t1,
                    const ConstBatchRef<T>& y0, const ConstBatchRef<T>& y1,
                    const ConstVectorRef<T>& theta, BatchRef<T> y0_bar, BatchRef<T> y1_bar,
                    VectorRef<T> theta_bar, Batch<T>& scratch);

}  // namespace revode
