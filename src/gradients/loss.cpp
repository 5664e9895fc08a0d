#include "revode/gradients/loss.hpp"

#include <cmath>

#include "revode/core/error.hpp"

namespace revode {

template <class T>
double Loss<T>::term_on_columns(Index, double, const ConstBatchRef<T>&, BatchRef<T>, Index,
                                Index) const {
  throw Error(
      "this loss sees the whole batch at once (a callback loss), so the batch cannot be split "
      "into chunks or per-sample solves; use per_sample_steps off (threads then split field "
      "evaluations only) or a per-sample loss (mse-data, mse-zero)");
}

template <class T>
ColumnSlice<T>::ColumnSlice(const Loss<T>& base, Index first, Index count, Index batch)
    : base_(base), first_(first), count_(count), batch_(batch) {
  require(base.separable(),
          "this loss sees the whole batch at once (a callback loss) and cannot be split into "
          "column chunks");
  require(first >= 0 && count >= 1 && first + count <= batch,
          "column chunk [{}, {}) does not lie in a batch of {} samples", first, first + count,
          batch);
}

template <class T>
double ColumnSlice<T>::term(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar) const {
  require(y.cols() == count_, "column chunk of {} samples was given a state of {} columns", count_,
          y.cols());
  return base_.term_on_columns(k, t, y, y_bar, first_, batch_);
}

template <class T>
double ColumnSlice<T>::term_on_columns(Index k, double t, const ConstBatchRef<T>& y,
                                       BatchRef<T> y_bar, Index first, Index batch) const {
  require(first + y.cols() <= count_ && batch == count_,
          "column chunk of {} samples: columns [{}, {}) of {} asked for", count_, first,
          first + y.cols(), batch);
  return base_.term_on_columns(k, t, y, y_bar, first_ + first, batch_);
}

template <class T>
MseData<T>::MseData(std::vector<Batch<T>> data) : data_(std::move(data)) {
  require(!data_.empty(), "mse-data: the data has no time points");
  for (std::size_t k = 0; k < data_.size(); ++k) {
    require(data_[k].rows() == data_[0].rows() && data_[k].cols() == data_[0].cols(),
            "mse-data: time point {} is {} × {} but time point 0 is {} × {}", k, data_[k].rows(),
            data_[k].cols(), data_[0].rows(), data_[0].cols());
    require(all_finite(data_[k]), "mse-data: time point {} contains NaN or Inf", k);
  }
}

template <class T>
double MseData<T>::term(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar) const {
  return term_on_columns(k, t, y, y_bar, 0, y.cols());
}

template <class T>
double MseData<T>::term_on_columns(Index k, double, const ConstBatchRef<T>& y, BatchRef<T> y_bar,
                                   Index first, Index batch) const {
  require(k < Index(data_.size()),
          "mse-data: the solve saved more states (at least {}) than the data has time points ({})",
          k + 1, data_.size());
  const Batch<T>& d = data_[std::size_t(k)];
  require(d.rows() == y.rows() && (d.cols() == batch || d.cols() == 1),
          "mse-data: data is {} × {} per time point but the states are {} × {} (dim × batch)",
          d.rows(), d.cols(), y.rows(), batch);
  if (d.cols() == batch)
    y_bar = T(2) * (y - d.middleCols(first, y.cols()));
  else y_bar = T(2) * (y.colwise() - d.col(0));
  return 0.25 * y_bar.template cast<double>().squaredNorm();
}

template <class T>
double MseData<T>::scale(Index saves, Index dim, Index batch) const {
  return 1.0 / double(saves * dim * batch);
}

template <class T>
void MseData<T>::check_saves(Index saves) const {
  require(saves == Index(data_.size()),
          "mse-data: the solve saved {} states but the data has {} time points", saves,
          data_.size());
}

template <class T>
double MseZero<T>::term(Index, double, const ConstBatchRef<T>& y, BatchRef<T> y_bar) const {
  y_bar = T(2) * y;
  return y.template cast<double>().squaredNorm();
}

template <class T>
double MseZero<T>::term_on_columns(Index k, double t, const ConstBatchRef<T>& y, BatchRef<T> y_bar,
                                   Index, Index) const {
  return term(k, t, y, y_bar);
}

template <class T>
double MseZero<T>::scale(Index saves, Index dim, Index batch) const {
  return 1.0 / double(saves * dim * batch);
}

template <class T>
double CallbackLoss<T>::term(Index k, double t, const ConstBatchRef<T>& y,
                             BatchRef<T> y_bar) const {
  const double value = function_(k, t, y, y_bar);
  require(std::isfinite(value) && all_finite(y_bar),
          "the loss callback returned a non-finite value or gradient at save {} (t = {})", k, t);
  return value;
}

template <class T>
double CotangentLoss<T>::term(Index k, double t, const ConstBatchRef<T>& y,
                              BatchRef<T> y_bar) const {
  return term_on_columns(k, t, y, y_bar, 0, y.cols());
}

template <class T>
double CotangentLoss<T>::term_on_columns(Index k, double t, const ConstBatchRef<T>& y,
                                         BatchRef<T> y_bar, Index first, Index batch) const {
  require(k >= 0 && k < Index(c_.size()),
          "cotangent loss: save {} (t = {}) has no cotangent; {} were given", k, t, c_.size());
  const Batch<T>& c = c_[std::size_t(k)];
  require(c.rows() == y.rows() && c.cols() == batch,
          "cotangent loss: the cotangent of save {} is {} × {} but the state is {} × {} "
          "(dim × batch)",
          k, c.rows(), c.cols(), y.rows(), batch);
  const auto columns = c.middleCols(first, y.cols());
  y_bar = columns;
  return (columns.template cast<double>().array() * y.template cast<double>().array()).sum();
}

template <class T>
void CotangentLoss<T>::check_saves(Index saves) const {
  require(saves == Index(c_.size()),
          "cotangent loss: the solve saved {} states but {} cotangents were given", saves,
          c_.size());
}

template class Loss<float>;
template class Loss<double>;
template class ColumnSlice<float>;
template class ColumnSlice<double>;
template class MseData<float>;
template class MseData<double>;
template class MseZero<float>;
template class MseZero<double>;
template class CallbackLoss<float>;
template class CallbackLoss<double>;
template class CotangentLoss<float>;
template class CotangentLoss<double>;

}  // namespace revode
