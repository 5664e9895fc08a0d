// Linear SDEs with closed forms, one per noise type, for the strong-order and gradient tests:
// geometric Brownian motion dy_i = μ_i y_i dt + Σ_j σ_ij y_i ∘ dW_j (diagonal, scalar and
// general noise; the noise matrices diag(σ_·j) commute, so the solution is
// y_i = y0_i exp(μ_i t + Σ_j σ_ij W_j), and the Itô one subtracts ½ Σ_j σ_ij² t), and
// Ornstein–Uhlenbeck dy = A y dt + S dW (additive noise).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "revode/core/error.hpp"
#include "revode/fields/linear.hpp"
#include "revode/gradients/direct_backprop.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/sde/brownian_tree.hpp"
#include "revode/sde/drift_diffusion.hpp"
#include "support/finite_difference.hpp"

namespace revode::testing {

struct LinearSde {
  NoiseType noise;
  Vector<double> mu;     ///< diagonal of A (d = 2)
  Vector<double> sigma;  ///< θ_g: σ (GBM) or S column-major (OU)
  Index noise_dim;
  std::unique_ptr<DriftDiffusion<double>> field;
  Vector<double> theta;  ///< [A flat; σ]
};

inline LinearSde make_linear_sde(NoiseType noise) {
  LinearSde s;
  s.noise = noise;
  s.mu = noise == NoiseType::additive ? Vector<double>{{-1.0, -0.5}} : Vector<double>{{0.3, -0.2}};
  std::string spec;
  switch (noise) {
    case NoiseType::diagonal:
      spec = "linear:0.6,0.4";
      break;
    case NoiseType::scalar:
      spec = "linear:0.6,0.4";
      break;
    case NoiseType::general:
      spec = "linear:0.5,0.3,-0.2,0.4";
      break;
    case NoiseType::additive:
      spec = "const:0.5,0.2,-0.3,0.4";
      break;
  }
  DiffusionBuild<double> g = make_diffusion<double>(spec, noise, 2, Activation::tanh, 0);
  s.noise_dim = g.noise_dim;
  s.sigma = g.default_params;
  s.field = std::make_unique<DriftDiffusion<double>>(std::make_unique<LinearField<double>>(2),
                                                     std::move(g.diffusion), noise, s.noise_dim);
  s.theta.resize(4 + s.sigma.size());
  s.theta << s.mu[0], 0.0, 0.0, s.mu[1], s.sigma;
  return s;
}

/// The exact y(t_end) on each path (column) of `w` from y0 (2 × paths), Itô or
/// Stratonovich.
inline Batch<double> exact_linear_sde(const LinearSde& s, const BrownianTree& w, double t_end,
                                      const Batch<double>& y0, bool ito) {
  const Index m = s.noise_dim, paths = y0.cols();
  Batch<double> w_t(m, paths);
  w.value(t_end, w_t);
  Batch<double> y(2, paths);
  if (s.noise == NoiseType::additive) {
    // y_i = e^{a_i T} y0_i + Σ_j S_ij (W_j(T) + a_i ∫_0^T e^{a_i (T − s)} W_j(s) ds), the
    // integral by the trapezoid rule on 2^12 intervals (error ~1e-6, far below the solvers').
    const int n = 1 << 12;
    Batch<double> integral = Batch<double>::Zero(2 * m, paths), w_s(m, paths);
    for (int k = 0; k <= n; ++k) {
      const double t = t_end * k / n, weight = (k == 0 || k == n ? 0.5 : 1.0) * t_end / n;
      w.value(t, w_s);
      for (Index i = 0; i < 2; ++i)
        integral.middleRows(i * m, m) += weight * std::exp(s.mu[i] * (t_end - t)) * w_s;
    }
    for (Index i = 0; i < 2; ++i) {
      y.row(i) = std::exp(s.mu[i] * t_end) * y0.row(i);
      for (Index j = 0; j < m; ++j)
        y.row(i) += s.sigma[i + 2 * j] * (w_t.row(j) + s.mu[i] * integral.row(i * m + j));
    }
    return y;
  }
  for (Index i = 0; i < 2; ++i) {
    Eigen::Array<double, 1, Eigen::Dynamic> exponent =
        Eigen::Array<double, 1, Eigen::Dynamic>::Constant(paths, s.mu[i] * t_end);
    for (Index j = 0; j < m; ++j) {
      double sigma_ij = 0;
      Index row = j;
      if (s.noise == NoiseType::diagonal) sigma_ij = j == i ? s.sigma[i] : 0.0;
      if (s.noise == NoiseType::scalar) sigma_ij = s.sigma[i], row = 0;
      if (s.noise == NoiseType::general) sigma_ij = s.sigma[i + 2 * j];
      exponent += sigma_ij * w_t.row(row).array();
      if (ito) exponent -= 0.5 * sigma_ij * sigma_ij * t_end;
    }
    y.row(i) = (y0.row(i).array() * exponent.exp()).matrix();
  }
  return y;
}

/// Each of `methods` on `p` against `reference` (direct backprop on p): the same steps
/// (accepted and rejected) and Brownian sample, so an equal loss and gradients to ≤ 1e-10.
inline void expect_methods_match_backprop(const GradientProblem<double>& p,
                                          const GradientResult<double>& reference,
                                          const std::vector<std::string>& methods) {
  for (const std::string& name : methods) {
    const GradientResult<double> r = make_gradient_method<double>(name)->compute(p);
    EXPECT_EQ(r.stats.steps, reference.stats.steps) << name;
    EXPECT_EQ(r.stats.rejected, reference.stats.rejected) << name;
    EXPECT_EQ(r.loss, reference.loss) << name << ": the same steps and Brownian sample";
    EXPECT_LE(relative_error(r.grad_params, reference.grad_params), 1e-10) << name;
    EXPECT_LE(relative_error(r.grad_y0, reference.grad_y0), 1e-10) << name;
  }
}

/// Direct backprop on `p` against central finite differences with the noise (the tree) and the
/// steps fixed: ≤ 1e-6 relative, to θ and y0.
inline void expect_backprop_matches_finite_differences(const GradientProblem<double>& p) {
  const GradientResult<double> exact = DirectBackprop<double>().compute(p);
  const auto fd = central_differences(p);
  EXPECT_LE(relative_error(exact.grad_params, fd.grad_params), 1e-6);
  EXPECT_LE(relative_error(exact.grad_y0, fd.grad_y0), 1e-6);
}

/// A gtest-safe name for a (solver, noise) case: "reversible:heun" → "McCallumFoster_heun",
/// '-' and ':' → '_' (the parameterised SDE suites' instantiation names).
inline std::string sde_case_name(const std::string& solver, NoiseType noise) {
  std::string s = solver + "_" + std::string(noise_type_name(noise));
  if (s.starts_with("reversible:")) s = "McCallumFoster_" + s.substr(11);
  for (char& ch : s)
    if (ch == '-' || ch == ':') ch = '_';
  return s;
}

/// What `body` throws as a revode::Error, or "no error" (for checking a message's wording).
inline std::string message_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace revode::testing
