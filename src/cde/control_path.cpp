// Interpolation weights of the CDE control path (formulas in docs/cde.md).
#include "revode/cde/control_path.hpp"

#include <Eigen/LU>
#include <algorithm>
#include <cmath>

#include "revode/core/error.hpp"

namespace revode {

std::string_view interpolation_name(Interpolation scheme) {
  switch (scheme) {
    case Interpolation::linear:
      return "linear";
    case Interpolation::hermite:
      return "hermite";
    case Interpolation::natural:
      return "natural";
  }
  return "?";
}

Interpolation parse_interpolation(std::string_view name) {
  for (Interpolation s : {Interpolation::linear, Interpolation::hermite, Interpolation::natural})
    if (interpolation_name(s) == name) return s;
  throw Error(fmt::format("interpolation '{}': expected linear, hermite or natural", name));
}

namespace {

// S with M = S x: the natural spline's second derivatives at the knots, from the tridiagonal
// system h_{i−1} M_{i−1} + 2(h_{i−1} + h_i) M_i + h_i M_{i+1} = 6(Δ_i/h_i − Δ_{i−1}/h_{i−1}),
// M_0 = M_{K−1} = 0. Solved once for the identity right-hand side; the system is symmetric and
// diagonally dominant, so LU without pivoting trouble.
Batch<double> natural_second_derivatives(const std::vector<double>& t) {
  const Index k = Index(t.size());
  Batch<double> s = Batch<double>::Zero(k, k);
  if (k < 3) return s;
  const Index n = k - 2;
  Batch<double> a = Batch<double>::Zero(n, n), r = Batch<double>::Zero(n, k);
  for (Index i = 1; i <= n; ++i) {
    const double hl = t[std::size_t(i)] - t[std::size_t(i - 1)];
    const double hr = t[std::size_t(i + 1)] - t[std::size_t(i)];
    a(i - 1, i - 1) = 2 * (hl + hr);
    if (i > 1) a(i - 1, i - 2) = hl;
    if (i < n) a(i - 1, i) = hr;
    r(i - 1, i + 1) += 6 / hr;
    r(i - 1, i) -= 6 / hr + 6 / hl;
    r(i - 1, i - 1) += 6 / hl;
  }
  s.middleRows(1, n) = a.partialPivLu().solve(r);
  return s;
}

}  // namespace

ControlPath::ControlPath(std::vector<double> times, Interpolation scheme)
    : times_(std::move(times)), scheme_(scheme) {
  require(times_.size() >= 2, "CDE control path: {} observation times; expected at least 2",
          times_.size());
  for (std::size_t k = 0; k < times_.size(); ++k) {
    require(std::isfinite(times_[k]), "CDE observation time [{}] is {}; expected finite", k,
            times_[k]);
    require(k == 0 || times_[k] > times_[k - 1],
            "CDE observation times must increase strictly: time [{}] = {} follows [{}] = {}", k,
            times_[k], k - 1, times_[k - 1]);
  }
  if (scheme_ == Interpolation::natural) second_derivatives_ = natural_second_derivatives(times_);
}

Index ControlPath::piece(double t) const {
  const auto it = std::upper_bound(times_.begin(), times_.end(), t);
  const Index k = Index(it - times_.begin()) - 1;
  return std::clamp<Index>(k, 0, knots() - 2);
}

std::pair<Index, Index> ControlPath::support(double t) const {
  const Index k = piece(t);
  switch (scheme_) {
    case Interpolation::linear:
      return {k, k + 1};
    case Interpolation::hermite:
      return {std::max<Index>(k - 1, 0), k + 1};
    case Interpolation::natural:
      return {0, knots() - 1};
  }
  return {0, knots() - 1};
}

void ControlPath::add_slope_into(Index j, double scale, Vector<double>& w) const {
  const Index p = std::max<Index>(j - 1, 0);
  const double h = times_[std::size_t(p + 1)] - times_[std::size_t(p)];
  w[p + 1] += scale / h;
  w[p] -= scale / h;
}

void ControlPath::value_weights(double t, Vector<double>& w) const {
  w.setZero(knots());
  const Index k = piece(t);
  const double tk = times_[std::size_t(k)], tn = times_[std::size_t(k + 1)], h = tn - tk;
  const double s = (t - tk) / h;
  switch (scheme_) {
    case Interpolation::linear:
      w[k] = 1 - s;
      w[k + 1] = s;
      return;
    case Interpolation::hermite: {
      // Cubic Hermite with end slopes m0 (backward difference into t_k) and m1 (slope of
      // this piece).
      w[k] += 2 * s * s * s - 3 * s * s + 1;
      w[k + 1] += -2 * s * s * s + 3 * s * s;
      add_slope_into(k, h * (s * s * s - 2 * s * s + s), w);
      add_slope_into(k + 1, h * (s * s * s - s * s), w);
      return;
    }
    case Interpolation::natural: {
      const double a = tn - t, b = t - tk;
      w[k] += a / h;
      w[k + 1] += b / h;
      w += second_derivatives_.row(k).transpose() * (a * a * a / (6 * h) - h * a / 6);
      w += second_derivatives_.row(k + 1).transpose() * (b * b * b / (6 * h) - h * b / 6);
      return;
    }
  }
}

void ControlPath::derivative_weights(double t, Vector<double>& w) const {
  w.setZero(knots());
  const Index k = piece(t);
  const double tk = times_[std::size_t(k)], tn = times_[std::size_t(k + 1)], h = tn - tk;
  const double s = (t - tk) / h;
  switch (scheme_) {
    case Interpolation::linear:
      w[k] = -1 / h;
      w[k + 1] = 1 / h;
      return;
    case Interpolation::hermite:
      w[k] += (6 * s * s - 6 * s) / h;
      w[k + 1] += (-6 * s * s + 6 * s) / h;
      add_slope_into(k, 3 * s * s - 4 * s + 1, w);
      add_slope_into(k + 1, 3 * s * s - 2 * s, w);
      return;
    case Interpolation::natural: {
      const double a = tn - t, b = t - tk;
      w[k] -= 1 / h;
      w[k + 1] += 1 / h;
      w += second_derivatives_.row(k).transpose() * (h / 6 - a * a / (2 * h));
      w += second_derivatives_.row(k + 1).transpose() * (b * b / (2 * h) - h / 6);
      return;
    }
  }
}

}  // namespace revode
