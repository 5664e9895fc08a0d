// Linear SDEs with closed forms, one per noise type, for the strong-order and gradient tests:
// geometric Brownian motion dy_i = μ_i y_i dt + Σ_j σ_ij y_i ∘ dW_j (diagonal, scalar and
// general noise; the noise matrices diag(σ_·j) commute, so the solution is
// y_i = y0_i exp(μ_i t + Σ_j σ_ij W_j), and the Itô one subtracts ½ Σ_j σ_ij² t), and
// Ornstein–Uhlenbeck dy = A y dt + S dW (additive noise).
#pragma once

#include <memory>

#include "revode/fields/linear.hpp"
#include "revode/sde/drift_diffusion.hpp"

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

}  // namespace revode::testing
