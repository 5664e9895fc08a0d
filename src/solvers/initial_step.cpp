#include "revode/solvers/initial_step.hpp"

#include <algorithm>
#include <cmath>

namespace revode {

template <class T>
double initial_step(const VectorField<T>& f, double t0, double t1, const ConstBatchRef<T>& y0,
                    const ConstBatchRef<T>& f0, const ConstVectorRef<T>& theta, int order,
                    double rtol, double atol) {
  const double span = std::abs(t1 - t0);
  const double direction = t1 > t0 ? 1.0 : -1.0;
  const Batch<double> scale = (atol + rtol * y0.template cast<double>().array().abs()).matrix();
  auto rms = [&](const auto& x) {
    const Batch<double> r = (x.template cast<double>().array() / scale.array()).matrix();
    const double plain = std::sqrt(r.array().square().mean());
    // The squares overflow for tolerances near the smallest doubles (rtol = atol = 1e-300 made
    // every d infinite and h0 NaN, reported as "f is not finite near y0"); stableNorm does not.
    return std::isfinite(plain) ? plain : r.stableNorm() / std::sqrt(double(r.size()));
  };
  const double d0 = rms(y0), d1 = rms(f0);
  const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  Batch<T> y1 = y0 + T(direction * h0) * f0;
  Batch<T> f1(y0.rows(), y0.cols());
  f.eval(T(t0 + direction * h0), y1, theta, f1);
  const double d2 = rms((f1 - f0).eval()) / h0;
  const double dmax = std::max(d1, d2);
  const double h1 = dmax <= 1e-15 ? std::max(1e-6, h0 * 1e-3)
                                  : std::pow(0.01 / dmax, 1.0 / (order + 1.0));
  return std::min({100 * h0, h1, span});
}

template double initial_step<float>(const VectorField<float>&, double, double,
                                    const ConstBatchRef<float>&, const ConstBatchRef<float>&,
                                    const ConstVectorRef<float>&, int, double, double);
template double initial_step<double>(const VectorField<double>&, double, double,
                                     const ConstBatchRef<double>&, const ConstBatchRef<double>&,
                                     const ConstVectorRef<double>&, int, double, double);

}  // namespace revode
