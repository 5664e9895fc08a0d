/// Linear stability by applying the stepper to basis vectors (see stability.hpp).
#include "revode/solvers/stability.hpp"

#include <fmt/format.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>

#include "revode/core/allocation_limit.hpp"
#include "revode/core/error.hpp"

namespace revode {
namespace {

/// y' = a y for a = α + iβ on the real pair (Re y, Im y). A private field, so the solver layer
/// does not depend on fields/.
class ComplexScalarField final : public VectorField<double> {
 public:
  explicit ComplexScalarField(std::complex<double> a) : a_(a) {}
  Index state_dim() const override { return 2; }
  Index param_count() const override { return 0; }
  std::string name() const override { return "complex-scalar"; }
  void eval(double, const ConstBatchRef<double>& y, const ConstVectorRef<double>&,
            BatchRef<double> dy) const override {
    dy.row(0) = a_.real() * y.row(0) - a_.imag() * y.row(1);
    dy.row(1) = a_.imag() * y.row(0) + a_.real() * y.row(1);
  }
  void vjp(double, const ConstBatchRef<double>&, const ConstVectorRef<double>&,
           const ConstBatchRef<double>& c, BatchRef<double> y_bar,
           VectorRef<double>) const override {
    y_bar.row(0) = a_.real() * c.row(0) + a_.imag() * c.row(1);
    y_bar.row(1) = -a_.imag() * c.row(0) + a_.real() * c.row(1);
  }
  std::unique_ptr<VectorField<double>> clone() const override {
    return std::make_unique<ComplexScalarField>(a_);
  }

 private:
  std::complex<double> a_;
};

}  // namespace

Eigen::MatrixXd step_matrix(const Stepper<double>& stepper, std::complex<double> z) {
  const ComplexScalarField f(z);
  const Index rows = 2 * stepper.state_copies();
  const Batch<double> x0 = Batch<double>::Identity(rows, rows);
  Batch<double> x1(rows, rows), tape(2, stepper.tape_cols(rows));
  const Vector<double> theta;
  stepper.step(f, 0.0, 1.0, x0, theta, x1, tape, nullptr, false);
  return x1;
}

double amplification(const Stepper<double>& stepper, std::complex<double> z) {
  const Eigen::MatrixXd m = step_matrix(stepper, z);
  if (!m.allFinite()) return std::numeric_limits<double>::infinity();
  return Eigen::EigenSolver<Eigen::MatrixXd>(m, false).eigenvalues().cwiseAbs().maxCoeff();
}

bool is_stable(const Stepper<double>& stepper, std::complex<double> z, double tolerance) {
  return amplification(stepper, z) <= 1.0 + tolerance;
}

std::vector<StabilitySample> sample_stability(const Stepper<double>& stepper,
                                              const StabilityWindow& w) {
  require(w.re_min < w.re_max && w.im_min < w.im_max,
          "StabilityWindow: [{}, {}] × [{}, {}]; required: re_min < re_max and im_min < im_max",
          w.re_min, w.re_max, w.im_min, w.im_max);
  // Far out, the amplification overflows (|R(z)| grows like |z|^stages): NaN and Inf would
  // be written as data. Every region of interest lies well inside ±max_stability_window.
  for (const double bound : {w.re_min, w.re_max, w.im_min, w.im_max})
    require(std::isfinite(bound) && std::abs(bound) <= max_stability_window,
            "StabilityWindow: [{}, {}] × [{}, {}]; required: finite bounds within ±{}", w.re_min,
            w.re_max, w.im_min, w.im_max, max_stability_window);
  require(w.re_points >= 2 && w.im_points >= 2,
          "StabilityWindow: {} × {} points; required: at least 2 on each axis", w.re_points,
          w.im_points);
  require_memory("StabilityWindow points", fmt::format("{} × {}", w.re_points, w.im_points),
                 {w.re_points, w.im_points, Index(sizeof(StabilitySample))});
  std::vector<StabilitySample> samples;
  samples.reserve(std::size_t(w.re_points * w.im_points));
  for (Index j = 0; j < w.im_points; ++j) {
    const double im = w.im_min + (w.im_max - w.im_min) * double(j) / double(w.im_points - 1);
    for (Index i = 0; i < w.re_points; ++i) {
      const double re = w.re_min + (w.re_max - w.re_min) * double(i) / double(w.re_points - 1);
      samples.push_back({re, im, amplification(stepper, {re, im})});
    }
  }
  return samples;
}

RealInterval real_stability_interval(const Stepper<double>& stepper, double search,
                                     double tolerance) {
  require(search > 0, "real_stability_interval: search = {}; required: > 0", search);
  auto stable = [&](double x) { return is_stable(stepper, {x, 0.0}, tolerance); };
  if (!stable(0.0)) return {std::nan(""), std::nan("")};
  constexpr int scan_points = 2000;
  auto boundary = [&](double side) {
    double inside = 0.0;
    for (int i = 1; i <= scan_points; ++i) {
      const double x = side * search * double(i) / scan_points;
      if (stable(x)) {
        inside = x;
        continue;
      }
      double outside = x;  // bisect to round-off (absolute near 0, relative further out)
      while (std::abs(outside - inside) > 1e-15 * std::max(1.0, std::abs(outside))) {
        const double mid = 0.5 * (inside + outside);
        (stable(mid) ? inside : outside) = mid;
      }
      return inside;
    }
    return side * search;
  };
  return {boundary(-1.0), boundary(1.0)};
}

void write_stability_csv(std::ostream& out, const std::vector<StabilitySample>& samples,
                         double tolerance) {
  out << "re,im,radius,stable\n";
  for (const auto& s : samples)
    out << fmt::format("{},{},{},{}\n", s.re, s.im, s.radius, s.radius <= 1.0 + tolerance ? 1 : 0);
}

}  // namespace revode
