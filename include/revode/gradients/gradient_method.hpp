/// The one interface every gradient method implements: given a problem (field, solver, step
/// control, save-at, loss), return the loss, ∂L/∂θ, ∂L/∂y0 and statistics. Methods differ only
/// in what they store and what they recompute (STYLE.md E6).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "revode/core/stats.hpp"
#include "revode/gradients/loss.hpp"
#include "revode/solvers/integrate.hpp"

namespace revode {

template <class T>
struct GradientProblem {
  const VectorField<T>& field;
  const Stepper<T>& stepper;
  StepControl control;
  SaveAt save_at;
  double t0, t1;
  // Owned copies, not views: a view would dangle when built from a temporary, and copying a
  // parameter vector costs nothing next to a solve.
  Batch<T> y0;       ///< state_dim × batch
  Vector<T> theta;   ///< param_count
  const Loss<T>& loss;
};

template <class T>
struct GradientResult {
  double loss = 0;
  Vector<T> grad_params;   ///< ∂L/∂θ
  Batch<T> grad_y0;        ///< ∂L/∂y0, state_dim × batch
  std::vector<double> ts;  ///< the save times reached
  SolveStats stats;
};

template <class T>
class GradientMethod {
 public:
  virtual ~GradientMethod() = default;
  virtual std::string name() const = 0;
  virtual GradientResult<T> compute(const GradientProblem<T>& problem) const = 0;
};

}  // namespace revode
