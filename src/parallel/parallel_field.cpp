#include "revode/parallel/parallel_field.hpp"

#include <algorithm>

#include "revode/core/error.hpp"

namespace revode {

template <class T>
ParallelField<T>::ParallelField(const VectorField<T>& field, Executor& executor,
                                Index chunk_columns)
    : field_(field), executor_(executor), columns_(chunk_columns) {
  require(chunk_columns >= 1, "chunk_columns is {} but must be at least 1", chunk_columns);
  clones_.reserve(std::size_t(executor.threads()));
  for (Index w = 0; w < executor.threads(); ++w) {
    clones_.push_back(field.clone());
    if (clones_.back() == nullptr) {  // a field that cannot be copied: its chunks run in turn
      clones_.clear();
      break;
    }
  }
}

template <class T>
void ParallelField<T>::for_chunks(Index n, const ChunkTask& task) const {
  if (clones_.empty()) {
    for (Index c = 0; c < n; ++c) task(c, field_);
    return;
  }
  executor_.parallel_for(n, [&](Index c, Index worker) { task(c, *clones_[std::size_t(worker)]); });
}

template <class T>
void ParallelField<T>::eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                            BatchRef<T> dy) const {
  const Index batch = y.cols(), n = chunks(batch);
  if (n <= 1) return field_.eval(t, y, theta, dy);
  for_chunks(n, [&](Index c, const VectorField<T>& f) {
    const Index first = c * columns_, count = std::min(columns_, batch - first);
    f.eval(t, y.middleCols(first, count), theta, dy.middleCols(first, count));
  });
}

template <class T>
void ParallelField<T>::vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                           const ConstBatchRef<T>& a, BatchRef<T> y_bar,
                           VectorRef<T> theta_bar) const {
  const Index batch = y.cols(), n = chunks(batch);
  if (n <= 1) return field_.vjp(t, y, theta, a, y_bar, theta_bar);
  if (Index(theta_bar_.size()) < n) theta_bar_.resize(std::size_t(n));
  for_chunks(n, [&](Index c, const VectorField<T>& f) {
    const Index first = c * columns_, count = std::min(columns_, batch - first);
    Vector<T>& partial = theta_bar_[std::size_t(c)];
    partial.setZero(theta_bar.size());
    f.vjp(t, y.middleCols(first, count), theta, a.middleCols(first, count),
          y_bar.middleCols(first, count), partial);
  });
  for (Index c = 0; c < n; ++c) theta_bar += theta_bar_[std::size_t(c)];
}

template class ParallelField<float>;
template class ParallelField<double>;

}  // namespace revode
