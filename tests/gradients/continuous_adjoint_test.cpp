// The continuous adjoint (Chen et al. 2018) is inexact by nature: these tests check that its
// error against the exact gradient falls as the backward tolerances tighten, that the
// seminorm saves backward work without losing accuracy, and that it handles fixed steps,
// batches, dense and endpoint saves and saves away from t0.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "revode/fields/registry.hpp"
#include "revode/gradients/continuous_adjoint.hpp"
#include "revode/gradients/direct_backprop.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/tableaux/registry.hpp"
#include "support/finite_difference.hpp"

namespace revode {
namespace {

using testing::relative_error;

struct LotkaVolterra {
  LotkaVolterra() : field(make_analytic_field<double>("lotka-volterra")) {
    const auto& info = analytic_field_info("lotka-volterra");
    theta = Eigen::Map<const Vector<double>>(info.default_params.data(),
                                             Index(info.default_params.size()));
    y0.resize(2, 3);
    y0 << 1.0, 1.2, 0.8, 0.5, 0.7, 1.1;
  }
  std::unique_ptr<VectorField<double>> field;
  Vector<double> theta;
  Batch<double> y0;
  ExplicitRK<double> rk{tableaux::dopri5};
  MseZero<double> loss;
};

double error_against(const GradientResult<double>& r, const GradientResult<double>& exact) {
  return std::max(relative_error(r.grad_params, exact.grad_params),
                  relative_error(r.grad_y0, exact.grad_y0));
}

TEST(ContinuousAdjoint, ErrorFallsAsTheBackwardTolerancesTighten) {
  const LotkaVolterra c;
  for (const SaveAt& save : {SaveAt::final_time(4.0), SaveAt::linspace(0.0, 4.0, 9)}) {
    // A tightly solved forward problem, so backprop's gradient is the continuous one to ~1e-11.
    const GradientProblem<double> p{*c.field, c.rk, AdaptiveSteps{.rtol = 1e-12, .atol = 1e-12},
                                    save, 0.0, 4.0, c.y0, c.theta, c.loss};
    const auto exact = DirectBackprop<double>().compute(p);
    double previous = INFINITY;
    for (const double tol : {1e-3, 1e-5, 1e-7, 1e-9}) {
      const auto r = ContinuousAdjoint<double>({.rtol = tol, .atol = tol}).compute(p);
      const double error = error_against(r, exact);
      EXPECT_LT(error, previous) << "tol " << tol;
      EXPECT_LT(error, 300 * tol) << "tol " << tol;
      EXPECT_NEAR(r.loss, exact.loss, 1e-15 * exact.loss);
      previous = error;
    }
  }
}

TEST(ContinuousAdjoint, SeminormSavesBackwardWorkAtTheSameAccuracy) {
  const LotkaVolterra c;
  const GradientProblem<double> p{*c.field, c.rk, AdaptiveSteps{.rtol = 1e-10, .atol = 1e-10},
                                  SaveAt::final_time(6.0), 0.0, 6.0, c.y0, c.theta, c.loss};
  const auto exact = DirectBackprop<double>().compute(p);
  const auto full = ContinuousAdjoint<double>({.rtol = 1e-7, .atol = 1e-7}).compute(p);
  const auto semi = ContinuousAdjoint<double>({.rtol = 1e-7, .atol = 1e-7, .seminorm = true}).compute(p);
  EXPECT_LE(semi.stats.nfe, full.stats.nfe);
  EXPECT_LT(error_against(semi, exact), 1e-5);
  EXPECT_LT(error_against(full, exact), 1e-5);
}

TEST(ContinuousAdjoint, FixedStepsMirrorTheForwardGridWithBatchesAndAllKindsOfSaves) {
  const LotkaVolterra c;
  SaveAt dense = SaveAt::linspace(0.5, 2.0, 7);
  dense.dense = true;
  // Saves off the grid, dense saves, saves at every step, and saves that start after t0.
  const std::vector<std::pair<std::string, SaveAt>> saves{{"split", SaveAt::linspace(0.0, 2.0, 7)},
                                                           {"dense", dense},
                                                           {"every-step", SaveAt::every_step()},
                                                           {"late", SaveAt{{0.7, 1.3}}}};
  for (const auto& [name, save] : saves) {
    SCOPED_TRACE(name);
    for (const Index steps : {50, 100}) {
      const GradientProblem<double> p{*c.field, c.rk, FixedSteps{steps}, save, 0.0, 2.0,
                                      c.y0, c.theta, c.loss};
      const auto exact = DirectBackprop<double>().compute(p);
      const auto r = ContinuousAdjoint<double>().compute(p);
      // Both are order-5 discretisations of the same gradient, except that the exact one
      // differentiates the dense output's cubic Hermite interpolant (local error O(h^4)),
      // which the continuous adjoint does not see.
      const double tol = (name == "dense" ? 10 : 1) * (steps == 50 ? 1e-6 : 1e-7);
      EXPECT_LT(error_against(r, exact), tol) << steps;
      EXPECT_EQ(r.ts, exact.ts);
    }
  }
}

}  // namespace
}  // namespace revode
