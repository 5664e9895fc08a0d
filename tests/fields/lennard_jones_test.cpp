// The Lennard-Jones cluster field beyond the registry-wide VJP checks: the equilibrium
// triangle, conservation of energy and momentum along a solve, and option checks.
#include "revode/fields/lennard_jones.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "revode/core/error.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/solvers/registry.hpp"

namespace revode {
namespace {

/// Three atoms on an equilateral triangle of the given side, with the given velocities.
Vector<double> triangle(double side, double v1x, double v2x) {
  Vector<double> y(12);
  y << 0.0, 0.0, side, 0.0, side / 2, side * std::sqrt(3.0) / 2, v1x, 0.0, v2x, 0.0,
      -(v1x + v2x), 0.0;
  return y;
}

TEST(LennardJones, TheEquilibriumTriangleIsAtRestAtEnergyMinusThreeEpsilon) {
  const LennardJonesField<double> f(3);
  Vector<double> theta(2);
  theta << 0.7, 1.3;  // ε, σ: the minimum of V is −ε at r = 2^(1/6) σ
  const Batch<double> y = triangle(std::pow(2.0, 1.0 / 6.0) * 1.3, 0.0, 0.0);
  Batch<double> dy(12, 1);
  f.eval(0.0, y, theta, dy);
  EXPECT_LT(dy.cwiseAbs().maxCoeff(), 1e-13);
  EXPECT_NEAR(lennard_jones_energy(y.col(0), theta), -3 * 0.7, 1e-14);
  EXPECT_EQ(f.name(), "lennard-jones:3");
  EXPECT_EQ(f.state_dim(), 12);
}

TEST(LennardJones, ASolveConservesEnergyAndMomentum) {
  const LennardJonesField<double> f(3);
  const Vector<double> theta = f.default_params();
  const Batch<double> y0 = triangle(1.05, 0.2, -0.05);  // compressed and moving
  const auto stepper = make_stepper<double>("alf-yoshida6");
  const auto sol =
      solve<double>(f, *stepper, FixedSteps{2000}, SaveAt::final_time(4.0), 0.0, 4.0, y0, theta);
  const Vector<double> y1 = sol.ys.back().col(0);
  EXPECT_NEAR(lennard_jones_energy(y1, theta), lennard_jones_energy(y0.col(0), theta), 1e-9);
  for (int c = 0; c < 2; ++c)  // total momentum Σ p stays 0
    EXPECT_NEAR(y1[6 + c] + y1[8 + c] + y1[10 + c], 0.0, 1e-12);
  EXPECT_GT((y1 - y0.col(0)).norm(), 0.1);  // it did move
}

TEST(LennardJones, BadSizesAreClearErrors) {
  EXPECT_THROW(LennardJonesField<double>(1), Error);
  EXPECT_THROW(lennard_jones_energy(Vector<double>::Zero(6), Vector<double>::Ones(2)), Error);
  EXPECT_NO_THROW(LennardJonesField<float>(5));
}

}  // namespace
}  // namespace revode
