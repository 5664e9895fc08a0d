// A field that forwards to another, so that gradient methods which keep an Mlp's forward tape
// (they find it by dynamic_cast) see no Mlp and recompute every forward: the reference the
// tape's bit-identity tests compare with.
#pragma once

#include <memory>
#include <string>

#include "revode/core/vector_field.hpp"

namespace revode::testing {

class WithoutForwardTape final : public VectorField<double> {
 public:
  explicit WithoutForwardTape(const VectorField<double>& inner) : inner_(inner) {}
  Index state_dim() const override { return inner_.state_dim(); }
  Index param_count() const override { return inner_.param_count(); }
  std::string name() const override { return inner_.name(); }
  void eval(double t, const ConstBatchRef<double>& y, const ConstVectorRef<double>& theta,
            BatchRef<double> dy) const override {
    inner_.eval(t, y, theta, dy);
  }
  void vjp(double t, const ConstBatchRef<double>& y, const ConstVectorRef<double>& theta,
           const ConstBatchRef<double>& a, BatchRef<double> y_bar,
           VectorRef<double> theta_bar) const override {
    inner_.vjp(t, y, theta, a, y_bar, theta_bar);
  }
  Index intermediate_floats(Index batch) const override {
    return inner_.intermediate_floats(batch);
  }
  std::unique_ptr<VectorField<double>> clone() const override { return inner_.clone(); }

 private:
  const VectorField<double>& inner_;
};

}  // namespace revode::testing
