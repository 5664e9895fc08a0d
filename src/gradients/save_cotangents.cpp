#include "revode/gradients/save_cotangents.hpp"

namespace revode {

template <class T>
void LossRecorder<T>::record(const SaveRecord<T>& save) {
  SaveCotangent<T> c{save.t, save.step, save.s, Batch<T>(save.y.rows(), save.y.cols())};
  sum_ += loss_.term(save.k, save.t, save.y, c.y_bar);
  cotangents_.push_back(std::move(c));
}

template <class T>
double LossRecorder<T>::finish(Index dim, Index batch) {
  const Index saves = Index(cotangents_.size());
  loss_.check_saves(saves);
  const double scale = loss_.scale(saves, dim, batch);
  for (auto& c : cotangents_) c.y_bar *= T(scale);
  return scale * sum_;
}

template <class T>
std::vector<double> LossRecorder<T>::times() const {
  std::vector<double> ts;
  ts.reserve(cotangents_.size());
  for (const auto& c : cotangents_) ts.push_back(c.t);
  return ts;
}

template <class T>
Index LossRecorder<T>::stored_floats() const {
  Index n = 0;
  for (const auto& c : cotangents_) n += c.y_bar.size();
  return n;
}

template <class T>
void pull_back_save(const VectorField<T>& f, const SaveCotangent<T>& save, double t0, double t1,
                    ConstBatchRef<T> y0, ConstBatchRef<T> y1, ConstVectorRef<T> theta,
                    BatchRef<T> y0_bar, BatchRef<T> y1_bar, VectorRef<T> theta_bar,
                    Batch<T>& scratch) {
  if (save.s == 1.0) {
    y1_bar += save.y_bar;
    return;
  }
  if (save.s == 0.0) {
    y0_bar += save.y_bar;
    return;
  }
  const auto w = hermite_weights(save.s);
  const double delta = t1 - t0;
  // Scratch holds the scaled cotangent and the VJP's result side by side, reused per save.
  const Index cols = y0.cols();
  scratch.resize(y0.rows(), 2 * cols);
  auto scaled = scratch.leftCols(cols);
  auto pulled = scratch.rightCols(cols);
  scaled = T(w[1] * delta) * save.y_bar;
  f.vjp(T(t0), y0, theta, scaled, pulled, theta_bar);
  y0_bar += T(w[0]) * save.y_bar + pulled;
  scaled = T(w[3] * delta) * save.y_bar;
  f.vjp(T(t1), y1, theta, scaled, pulled, theta_bar);
  y1_bar += T(w[2]) * save.y_bar + pulled;
}

template class LossRecorder<float>;
template class LossRecorder<double>;
#define REVODE_INSTANTIATE(T)                                                                \
  template void pull_back_save<T>(const VectorField<T>&, const SaveCotangent<T>&, double,    \
                                  double, ConstBatchRef<T>, ConstBatchRef<T>,                \
                                  ConstVectorRef<T>, BatchRef<T>, BatchRef<T>, VectorRef<T>, \
                                  Batch<T>&);
REVODE_INSTANTIATE(float)
REVODE_INSTANTIATE(double)
#undef REVODE_INSTANTIATE

}  // namespace revode
