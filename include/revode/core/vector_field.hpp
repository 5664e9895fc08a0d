/// The vector-field interface: y' = f(t, y; θ) evaluated on a whole batch, with its
/// vector-Jacobian product. Every solver and gradient method sees fields only through this.
#pragma once

#include <memory>
#include <string>

#include "revode/core/types.hpp"

namespace revode {

/// A batched vector field f(t, y; θ) with y a dim × batch block and θ a flat parameter vector.
///
/// Contract for implementers:
/// - `eval` writes dy = f(t, y; θ), same shape as y; it must not read dy.
/// - `vjp` writes y_bar = aᵀ ∂f/∂y (overwritten) and accumulates θ_bar += aᵀ ∂f/∂θ summed over
///   the batch. It recomputes whatever intermediates it needs from (t, y, θ).
/// - Neither allocates once warmed up for a given batch size; both may use internal scratch,
///   so one instance must not be called from two threads at once (use `clone`).
/// - Time t is never differentiated: save times and step times are constants of the solve.
template <class T>
class VectorField {
 public:
  virtual ~VectorField() = default;

  /// Length of one state vector.
  virtual Index state_dim() const = 0;
  /// Length of the flat parameter vector θ (0 for a field without parameters).
  virtual Index param_count() const = 0;
  /// A short description, e.g. "mlp:2,64,64,2 tanh" or "lotka-volterra".
  virtual std::string name() const = 0;

  /// dy = f(t, y; θ). y, dy: state_dim × batch.
  virtual void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                    BatchRef<T> dy) const = 0;

  /// y_bar = aᵀ ∂f/∂y at (t, y); theta_bar += aᵀ ∂f/∂θ. a, y_bar: state_dim × batch.
  virtual void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                   const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const = 0;

  /// eval on one column: y and dy are `rows` contiguous scalars each (rows must equal
  /// state_dim()); dy must not overlap y. The same numbers as eval on that column as a
  /// state_dim × 1 block. The steppers' batch-1 paths call it with raw pointers, so no view
  /// is built per stage: at batch 1 a small network's evaluation costs tens of nanoseconds,
  /// and building views around it was a good part of a step. The default wraps the pointers
  /// and calls eval; a field with a cheaper single-column path overrides it.
  virtual void eval_column(T t, const T* y, Index rows, const ConstVectorRef<T>& theta,
                           T* dy) const {
    eval(t, Eigen::Map<const Batch<T>>(y, rows, 1), theta, Eigen::Map<Batch<T>>(dy, rows, 1));
  }

  /// vjp on one column: y, a and y_bar are `rows` contiguous scalars each (rows must equal
  /// state_dim()); y_bar must not overlap a. The same numbers as vjp on that column.
  virtual void vjp_column(T t, const T* y, Index rows, const ConstVectorRef<T>& theta, const T* a,
                          T* y_bar, VectorRef<T> theta_bar) const {
    vjp(t, Eigen::Map<const Batch<T>>(y, rows, 1), theta, Eigen::Map<const Batch<T>>(a, rows, 1),
        Eigen::Map<Batch<T>>(y_bar, rows, 1), theta_bar);
  }

  /// Scalars one evaluation keeps alive while its VJP runs (hidden activations of a network):
  /// used to report the true peak memory of gradient methods.
  virtual Index intermediate_floats(Index batch) const { return 0 * batch; }

  /// True when column b of f depends only on column b of y, not on where that column sits in the
  /// batch, so a batch may be split into column chunks (threads, per-sample steps). False for
  /// fields whose columns carry their own data by position: a CDE's per-sample control paths,
  /// an SDE's per-column Brownian paths.
  virtual bool column_local() const { return true; }

  /// An independent copy with its own scratch space (for use from another thread).
  virtual std::unique_ptr<VectorField<T>> clone() const = 0;
};

}  // namespace revode
