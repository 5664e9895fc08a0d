/// Losses on the saved states. Every loss is a sum over save times,
///   L = scale(K, dim, batch) · Σ_k ℓ_k(y_k),
/// so a gradient method can add each cotangent ∂L/∂y_k when it reaches y_k: forwards while
/// storing (backprop) or backwards while reconstructing (reversible solvers), without keeping
/// the saved states. K, the number of saves, is only known after the forward solve (adaptive
/// `SaveAt::every_step`), hence the separate scale.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "revode/core/types.hpp"

namespace revode {

template <class T>
class Loss {
 public:
  virtual ~Loss() = default;
  /// ℓ_k(y) for the k-th saved state y (state_dim × batch) at time t; writes y_bar = ∂ℓ_k/∂y.
  virtual double term(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar) const = 0;
  /// The factor in front of the sum, once the number of saves K is known.
  virtual double scale(Index saves, Index dim, Index batch) const = 0;
  /// Throws revode::Error if K saves are incompatible with the loss (e.g. data length).
  virtual void check_saves(Index saves) const { (void)saves; }

  /// True when ℓ_k is a sum over samples (columns), so that a batch may be split into column
  /// chunks (parallel_gradient, per-sample steps) and `term_on_columns` is implemented.
  virtual bool separable() const { return false; }
  /// ℓ_k restricted to columns [first, first + y.cols()) of a batch of `batch` samples: y and
  /// y_bar are those columns only. Summed over a partition of the columns it gives `term`.
  /// @throws revode::Error for a loss that is not separable.
  virtual double term_on_columns(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar,
                                 Index first, Index batch) const;
};

/// A separable loss seen on one column chunk of a batch: what a gradient method runs with
/// when parallel_gradient hands it columns [first, first + count) of `batch` samples. Its
/// terms are the base loss's on those columns and its scale is the whole batch's, so the
/// chunks' losses and gradients add up to the whole batch's.
template <class T>
class ColumnSlice final : public Loss<T> {
 public:
  /// @throws revode::Error unless base.separable() and 0 ≤ first < first + count ≤ batch.
  ColumnSlice(const Loss<T>& base, Index first, Index count, Index batch);
  double term(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar) const override;
  /// The base scale with the whole batch's size in place of the chunk's.
  double scale(Index saves, Index dim, Index) const override {
    return base_.scale(saves, dim, batch_);
  }
  void check_saves(Index saves) const override { base_.check_saves(saves); }
  bool separable() const override { return true; }
  double term_on_columns(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar,
                         Index first, Index batch) const override;

 private:
  const Loss<T>& base_;
  Index first_, count_, batch_;
};

/// Mean squared error against data at the save times, averaged over every saved entry:
/// L = 1/(K·dim·batch) Σ_k ‖y_k − d_k‖². Data: one dim × batch block per save time, or one
/// dim × 1 column per save time broadcast over the batch.
template <class T>
class MseData final : public Loss<T> {
 public:
  explicit MseData(std::vector<Batch<T>> data);
  double term(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar) const override;
  double scale(Index saves, Index dim, Index batch) const override;
  void check_saves(Index saves) const override;
  bool separable() const override { return true; }
  double term_on_columns(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar,
                         Index first, Index batch) const override;

 private:
  std::vector<Batch<T>> data_;
};

/// Mean square of the saved states, L = 1/(K·dim·batch) Σ_k ‖y_k‖² (MSE against zero).
template <class T>
class MseZero final : public Loss<T> {
 public:
  double term(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar) const override;
  double scale(Index saves, Index dim, Index batch) const override;
  bool separable() const override { return true; }
  double term_on_columns(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar,
                         Index first, Index batch) const override;
};

/// A user loss: a callback returns ℓ_k and writes ∂ℓ_k/∂y_k; no scale (L = Σ_k ℓ_k). It sees
/// the whole batch, so it is not separable: parallel_gradient then splits field evaluations
/// only (shared steps), and per-sample steps refuse it.
template <class T>
class CallbackLoss final : public Loss<T> {
 public:
  using Function =
      std::function<double(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar)>;
  explicit CallbackLoss(Function function) : function_(std::move(function)) {}
  double term(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar) const override;
  double scale(Index, Index, Index) const override { return 1.0; }

 private:
  Function function_;
};

/// Given cotangents: ℓ_k(y) = ⟨c_k, y⟩, so ∂ℓ_k/∂y_k = c_k, with scale 1. What a front end
/// passes to a gradient method's backward half when the cotangents at the saves come from
/// outside (revode.torch: autograd's grad_outputs). Build it with one block per save (zeros
/// are fine while forward runs: the value it reports is then 0) and fill `cotangents()` after
/// the forward, before the backward.
template <class T>
class CotangentLoss final : public Loss<T> {
 public:
  /// One dim × batch block per save time.
  explicit CotangentLoss(std::vector<Batch<T>> cotangents) : c_(std::move(cotangents)) {}
  double term(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar) const override;
  double scale(Index, Index, Index) const override { return 1.0; }
  void check_saves(Index saves) const override;
  bool separable() const override { return true; }
  double term_on_columns(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar,
                         Index first, Index batch) const override;

  std::vector<Batch<T>>& cotangents() { return c_; }
  const std::vector<Batch<T>>& cotangents() const { return c_; }

 private:
  std::vector<Batch<T>> c_;
};

}  // namespace revode
