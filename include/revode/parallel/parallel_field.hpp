/// A vector field whose batch evaluations run on an Executor: the columns are cut into chunks
/// of a fixed width, each chunk is evaluated by a per-thread clone of the field, and the
/// parameter cotangents of the chunks are added in chunk order. The result does not depend on
/// the thread count. This is how a solve with one step size shared by the whole batch runs
/// on several threads: the threads meet at every evaluation, the step-size decision (which
/// needs the whole batch's error norm) stays on the caller's thread.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "revode/core/vector_field.hpp"
#include "revode/parallel/executor.hpp"

namespace revode {

template <class T>
class ParallelField final : public VectorField<T> {
 public:
  /// Clones `field` once per executor thread (here, not per call). The field and the executor
  /// must outlive this object. @throws revode::Error unless chunk_columns ≥ 1.
  ParallelField(const VectorField<T>& field, Executor& executor, Index chunk_columns);

  Index state_dim() const override { return field_.state_dim(); }
  Index param_count() const override { return field_.param_count(); }
  std::string name() const override { return field_.name(); }
  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  /// θ̄ += Σ_c θ̄_c with θ̄_c the chunk's cotangent from zero, added in chunk order.
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  Index intermediate_floats(Index batch) const override {
    return field_.intermediate_floats(batch);
  }
  bool column_local() const override { return field_.column_local(); }
  /// A serial clone of the wrapped field (the clone is for another thread, which has its own).
  std::unique_ptr<VectorField<T>> clone() const override { return field_.clone(); }

 private:
  Index chunks(Index batch) const { return (batch + columns_ - 1) / columns_; }
  using ChunkTask = std::function<void(Index chunk, const VectorField<T>& field)>;
  /// task(c, a copy of the field only this call uses) for every chunk: on the executor, or in
  /// chunk order on the field itself when it cannot be cloned.
  void for_chunks(Index n, const ChunkTask& task) const;

  const VectorField<T>& field_;
  Executor& executor_;
  Index columns_;
  std::vector<std::unique_ptr<VectorField<T>>> clones_;  ///< one per thread; none: no clone()
  mutable std::vector<Vector<T>> theta_bar_;             ///< one per chunk (vjp)
};

extern template class ParallelField<float>;
extern template class ParallelField<double>;

}  // namespace revode
