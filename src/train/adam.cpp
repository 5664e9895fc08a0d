#include "revode/train/adam.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "revode/core/error.hpp"

namespace revode {

std::string_view optimizer_name(OptimizerKind kind) {
  return kind == OptimizerKind::adam ? "adam" : "adamw";
}

OptimizerKind parse_optimizer(std::string_view name) {
  if (name == "adam") return OptimizerKind::adam;
  if (name == "adamw") return OptimizerKind::adamw;
  throw Error(fmt::format("unknown optimizer '{}' (known: adam, adamw)", name));
}

void validate(const AdamOptions& o) {
  require(o.beta1 >= 0 && o.beta1 < 1, "AdamOptions::beta1 = {}; required: 0 <= beta1 < 1",
          o.beta1);
  require(o.beta2 >= 0 && o.beta2 < 1, "AdamOptions::beta2 = {}; required: 0 <= beta2 < 1",
          o.beta2);
  require(o.eps > 0 && std::isfinite(o.eps), "AdamOptions::eps = {}; required: finite and > 0",
          o.eps);
  require(o.weight_decay >= 0 && std::isfinite(o.weight_decay),
          "AdamOptions::weight_decay = {}; required: finite and >= 0", o.weight_decay);
}

bool operator==(const AdamState& a, const AdamState& b) {
  // Bitwise on purpose: a resumed run must continue exactly, not approximately.
  const auto same = [](const Vector<double>& x, const Vector<double>& y) {
    return x.size() == y.size() &&
           std::equal(x.data(), x.data() + x.size(), y.data(), [](double p, double q) {
             return std::memcmp(&p, &q, sizeof p) == 0;
           });
  };
  return a.step == b.step && same(a.m, b.m) && same(a.v, b.v);
}

Adam::Adam(AdamOptions options, Index param_count) : options_(options) {
  validate(options_);
  require(param_count >= 0 && param_count <= kMaxAdamParams,
          "Adam: param_count = {}; required: 0 <= param_count <= {} (two moments of 8 bytes "
          "per parameter)",
          param_count, kMaxAdamParams);
  state_.m = Vector<double>::Zero(param_count);
  state_.v = Vector<double>::Zero(param_count);
}

void Adam::step(double lr, VectorRef<double> params, const ConstVectorRef<double>& grad) {
  const Index n = state_.m.size();
  require(params.size() == n && grad.size() == n,
          "Adam::step: {} parameters and {} gradient entries; the optimizer was built for {}",
          params.size(), grad.size(), n);
  // lr = 0 is allowed: a cosine schedule that ends at final_lr = 0 can round to it.
  require(std::isfinite(lr) && lr >= 0,
          "Adam::step: learning rate lr = {}; required: finite and >= 0", lr);
  const AdamOptions& o = options_;
  ++state_.step;
  const double t = double(state_.step);
  const double correction1 = 1.0 - std::pow(o.beta1, t);
  const double correction2 = 1.0 - std::pow(o.beta2, t);
  const bool decoupled = o.kind == OptimizerKind::adamw;
  double* m = state_.m.data();
  double* v = state_.v.data();
  for (Index i = 0; i < n; ++i) {
    const double theta = params[i];
    const double g = decoupled ? grad[i] : grad[i] + o.weight_decay * theta;
    m[i] = o.beta1 * m[i] + (1.0 - o.beta1) * g;
    v[i] = o.beta2 * v[i] + (1.0 - o.beta2) * g * g;
    const double m_hat = m[i] / correction1;
    const double v_hat = v[i] / correction2;
    double update = m_hat / (std::sqrt(v_hat) + o.eps);
    if (decoupled) update += o.weight_decay * theta;
    params[i] = theta - lr * update;
  }
}

void Adam::restore(AdamState state) {
  const Index n = state_.m.size();
  require(state.m.size() == n && state.v.size() == n,
          "optimizer state has {} and {} moment entries; the model has {} parameters",
          state.m.size(), state.v.size(), n);
  require(state.step >= 0, "optimizer state has step {}; required: >= 0", state.step);
  require(state.m.allFinite() && state.v.allFinite() && (state.v.array() >= 0).all(),
          "optimizer state has non-finite moments or a negative second moment");
  state_ = std::move(state);
}

}  // namespace revode
