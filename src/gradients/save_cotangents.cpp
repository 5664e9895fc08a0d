#include "revode/gradients/save_cotangents.hpp"

namespace revode {

template <class T>
void pull_back_save(const VectorField<T>& f, const SaveCotangent<T>& save, double t0, double t1,
                    const ConstBatchRef<T>& y0, const ConstBatchRef<T>& y1,
                    const ConstVectorRef<T>& theta, BatchRef<T> y0_bar, BatchRef<T> y1_bar,
                    VectorRef<T> theta_bar, Batch<T>& scratch) {
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

#define REVODE_INSTANTIATE(T)                                                                     \
  template void pull_back_save<T>(const VectorField<T>&, const SaveCotangent<T>&, double, double, \
                                  const ConstBatchRef<T>&, const ConstBatchRef<T>&,               \
                                  const ConstVectorRef<T>&, BatchRef<T>, BatchRef<T>,             \
                                  VectorRef<T>, Batch<T>&);
REVODE_INSTANTIATE(float)
REVODE_INSTANTIATE(double)
#undef REVODE_INSTANTIATE

}  // namespace revode
