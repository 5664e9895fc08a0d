// Small vector fields used only by tests to provoke failures.
#pragma once

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

}  // namespace revode::testing
