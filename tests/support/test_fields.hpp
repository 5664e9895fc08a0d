// Small vector fields used only by tests to provoke failures.
#pragma once

#include <cmath>

#include "revode/core/vector_field.hpp"

namespace revode::testing {

/// y' = θ0 · y², which blows up at t = 1/(θ0 · y0): drives the non-finite-state, step-size
/// underflow and max_steps paths.
class BlowUpField final : public VectorField<double> {
 public:
  Index state_dim() const override { return 1; }
  Index param_count() const override { return 1; }
  std::string name() const override { return "blow-up"; }
  void eval(double, const ConstBatchRef<double>& y, const ConstVectorRef<double>& theta,
            BatchRef<double> dy) const override {
    dy = theta[0] * y.array().square().matrix();
  }
  void vjp(double, const ConstBatchRef<double>& y, const ConstVectorRef<double>& theta,
           const ConstBatchRef<double>& a, BatchRef<double> y_bar,
           VectorRef<double> theta_bar) const override {
    y_bar = (2 * theta[0] * a.array() * y.array()).matrix();
    theta_bar[0] += (a.array() * y.array().square()).sum();
  }
  std::unique_ptr<VectorField<double>> clone() const override {
    return std::make_unique<BlowUpField>();
  }
};

/// A nonlinear, time-dependent 2-D field with 3 parameters, written as plain loops over the
/// columns, so a column's numbers are the same at every batch width and place in the batch:
///   y0' = θ0 y1 − θ2 y0 y1 + t/10,   y1' = θ1 y0 − sin y1.
/// It counts the calls that reach it through the batch-1 column entry points (eval_column,
/// vjp_column), so a test can tell which path a stepper took.
class ColumnwiseField final : public VectorField<double> {
 public:
  Index state_dim() const override { return 2; }
  Index param_count() const override { return 3; }
  std::string name() const override { return "columnwise"; }
  void eval(double t, const ConstBatchRef<double>& y, const ConstVectorRef<double>& theta,
            BatchRef<double> dy) const override {
    for (Index j = 0; j < y.cols(); ++j) {
      const double y0 = y(0, j), y1 = y(1, j);
      dy(0, j) = theta[0] * y1 - theta[2] * y0 * y1 + t / 10;
      dy(1, j) = theta[1] * y0 - std::sin(y1);
    }
  }
  void vjp(double, const ConstBatchRef<double>& y, const ConstVectorRef<double>& theta,
           const ConstBatchRef<double>& a, BatchRef<double> y_bar,
           VectorRef<double> theta_bar) const override {
    for (Index j = 0; j < y.cols(); ++j) {
      const double y0 = y(0, j), y1 = y(1, j), a0 = a(0, j), a1 = a(1, j);
      theta_bar[0] += a0 * y1;
      theta_bar[1] += a1 * y0;
      theta_bar[2] -= a0 * y0 * y1;
      y_bar(0, j) = -a0 * theta[2] * y1 + a1 * theta[1];
      y_bar(1, j) = a0 * (theta[0] - theta[2] * y0) - a1 * std::cos(y1);
    }
  }
  void eval_column(double t, const double* y, Index rows, const ConstVectorRef<double>& theta,
                   double* dy) const override {
    ++column_evals;
    VectorField<double>::eval_column(t, y, rows, theta, dy);
  }
  void vjp_column(double t, const double* y, Index rows, const ConstVectorRef<double>& theta,
                  const double* a, double* y_bar, VectorRef<double> theta_bar) const override {
    ++column_vjps;
    VectorField<double>::vjp_column(t, y, rows, theta, a, y_bar, theta_bar);
  }
  std::unique_ptr<VectorField<double>> clone() const override {
    return std::make_unique<ColumnwiseField>();
  }
  mutable int column_evals = 0, column_vjps = 0;
};

}  // namespace revode::testing
