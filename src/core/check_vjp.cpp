// check_vjp: finite-difference verification of a field's VJP (see the header for the method).
#include "revode/core/check_vjp.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "revode/core/error.hpp"

namespace revode {
namespace {

// Sums accumulate in double so that, for a float field, the comparison measures the field's
// error and not the checker's own.
template <class A, class B>
double dot(const Eigen::MatrixBase<A>& x, const Eigen::MatrixBase<B>& z) {
  return (x.template cast<double>().array() * z.template cast<double>().array()).sum();
}

template <class M>
void fill_uniform(Eigen::MatrixBase<M>& m, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  using Scalar = typename M::Scalar;
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = 0; i < m.rows(); ++i) m(i, j) = static_cast<Scalar>(uniform(rng));
}

// |analytic − fd| / max(|fd|, |analytic|, floor); +inf when anything is not finite (the floor
// comes from f(y), so a NaN there is an eval failure too).
double relative_error(double analytic, double fd, double floor) {
  if (!std::isfinite(analytic) || !std::isfinite(fd) || !std::isfinite(floor))
    return std::numeric_limits<double>::infinity();
  const double denominator = std::max({std::abs(fd), std::abs(analytic), floor});
  return std::abs(analytic - fd) / denominator;
}

template <class Derived>
double default_step(const Eigen::MatrixBase<Derived>& x, double epsilon) {
  const double scale = x.size() == 0 ? 1.0 : std::max(1.0, double(x.cwiseAbs().maxCoeff()));
  return std::cbrt(epsilon) * scale;
}

}  // namespace

template <class T>
VjpCheckReport check_vjp(const VectorField<T>& f, std::type_identity_t<T> t,
                         const std::type_identity_t<ConstBatchRef<T>>& y,
                         const std::type_identity_t<ConstVectorRef<T>>& theta,
                         const VjpCheckOptions& opts) {
  const Index dim = f.state_dim();
  const Index batch = y.cols();
  const Index params = f.param_count();
  require(y.rows() == dim && batch >= 1,
          "check_vjp: y is {} × {}; required: state_dim ({}) × batch with batch ≥ 1", y.rows(),
          batch, dim);
  require(theta.size() == params, "check_vjp: theta has {} entries; field '{}' needs {}",
          theta.size(), f.name(), params);
  require(std::isfinite(double(t)), "check_vjp: t = {}; required: a finite time", double(t));
  require(opts.directions >= 1, "VjpCheckOptions::directions = {}; required: directions ≥ 1",
          opts.directions);
  require(std::isfinite(opts.step) && opts.step >= 0,
          "VjpCheckOptions::step = {}; required: step ≥ 0 (0 picks the default)", opts.step);

  const double epsilon = std::numeric_limits<T>::epsilon();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double step_y = opts.step > 0 ? opts.step : default_step(y, epsilon);
  const double step_theta = opts.step > 0 ? opts.step : default_step(theta, epsilon);

  Batch<T> f0(dim, batch), a(dim, batch), u(dim, batch), y_plus(dim, batch), y_minus(dim, batch);
  Batch<T> f_plus(dim, batch), f_minus(dim, batch), y_bar(dim, batch);
  Vector<T> w(params), theta_plus(params), theta_minus(params), theta_bar(params), offset(params);
  f0.setConstant(T(nan));
  f.eval(t, y, theta, f0);

  std::mt19937_64 rng(opts.seed);
  VjpCheckReport report;
  for (int k = 0; k < opts.directions; ++k) {
    fill_uniform(a, rng);
    fill_uniform(u, rng);
    fill_uniform(w, rng);
    fill_uniform(offset, rng);
    // Compared un-divided by 2h: both sides use the perturbation actually representable in T.
    // Floor: rounding noise of two evals of ⟨a, f⟩, each of size up to Σ|a ∘ f|.
    const double floor = std::max(4.0 * epsilon * dot(a.cwiseAbs(), f0.cwiseAbs()),
                                  std::numeric_limits<double>::min());

    y_bar.setConstant(T(nan));
    theta_bar = offset;
    f.vjp(t, y, theta, a, y_bar, theta_bar);
    theta_bar -= offset;

    y_plus = y + T(step_y) * u;
    y_minus = y - T(step_y) * u;
    f_plus.setConstant(T(nan));
    f_minus.setConstant(T(nan));
    f.eval(t, y_plus, theta, f_plus);
    f.eval(t, y_minus, theta, f_minus);
    const double fd_y = dot(a, f_plus) - dot(a, f_minus);
    const double analytic_y = dot(y_bar, y_plus - y_minus);
    report.max_relative_error_y =
        std::max(report.max_relative_error_y, relative_error(analytic_y, fd_y, floor));

    if (params == 0) continue;
    theta_plus = theta + T(step_theta) * w;
    theta_minus = theta - T(step_theta) * w;
    f_plus.setConstant(T(nan));
    f_minus.setConstant(T(nan));
    f.eval(t, y, theta_plus, f_plus);
    f.eval(t, y, theta_minus, f_minus);
    const double fd_theta = dot(a, f_plus) - dot(a, f_minus);
    const double analytic_theta = dot(theta_bar, theta_plus - theta_minus);
    report.max_relative_error_theta =
        std::max(report.max_relative_error_theta, relative_error(analytic_theta, fd_theta, floor));
  }

  const bool finite =
      std::isfinite(report.max_relative_error_y) && std::isfinite(report.max_relative_error_theta);
  report.message = fmt::format(
      "check_vjp '{}' at t = {}, batch {}, {} directions, step y {:.2g} θ {:.2g}: "
      "max relative error y {:.3g}, θ {:.3g}{}",
      f.name(), double(t), batch, opts.directions, step_y, step_theta, report.max_relative_error_y,
      report.max_relative_error_theta,
      finite ? "" : " (non-finite: eval or vjp gave NaN/Inf, left y_bar unwritten or read dy)");
  return report;
}

template VjpCheckReport check_vjp<float>(const VectorField<float>&, float,
                                         const ConstBatchRef<float>&, const ConstVectorRef<float>&,
                                         const VjpCheckOptions&);
template VjpCheckReport check_vjp<double>(const VectorField<double>&, double,
                                          const ConstBatchRef<double>&,
                                          const ConstVectorRef<double>&, const VjpCheckOptions&);

}  // namespace revode
