// Solves Lotka–Volterra with Dormand–Prince and differentiates the final state's mean square
// with respect to the four rate constants, through the installed revode package.
#include <cstdio>

#include "revode/fields/lotka_volterra.hpp"
#include "revode/gradients/direct_backprop.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/tableaux/dopri5.hpp"

int main() {
  using namespace revode;
  LotkaVolterraField<double> field;
  const Vector<double> theta = field.default_params();
  Batch<double> y0(2, 1);
  y0 << 1.0, 1.0;
  ExplicitRK<double> dopri5(tableaux::dopri5);
  MseZero<double> loss;
  const GradientProblem<double> problem{field, dopri5, AdaptiveSteps{.rtol = 1e-8, .atol = 1e-8},
                                        SaveAt::final_time(5.0), 0.0, 5.0, y0, theta, loss};
  const auto result = DirectBackprop<double>().compute(problem);
  std::printf("loss %.10g, dL/dtheta = (%.6g, %.6g, %.6g, %.6g), %s\n", result.loss,
              result.grad_params[0], result.grad_params[1], result.grad_params[2],
              result.grad_params[3], result.stats.brief().c_str());
  return result.grad_params.allFinite() ? 0 : 1;
}
