// Linear stability measured from the step matrices, against closed forms: explicit RK's
// stability polynomials, McCallum–Foster over Euler, reversible Heun, and (damped) ALF.
#include "revode/solvers/stability.hpp"

#include <gtest/gtest.h>

#include <Eigen/LU>
#include <algorithm>
#include <sstream>

#include "revode/core/error.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/reversible/alf.hpp"
#include "revode/solvers/reversible/mccallum_foster.hpp"
#include "revode/solvers/reversible/reversible_heun.hpp"
#include "revode/solvers/tableaux/euler.hpp"
#include "revode/solvers/tableaux/rk4.hpp"

namespace revode {
namespace {

TEST(Stability, ExplicitRkMatchesItsStabilityPolynomial) {
  const ExplicitRK<double> euler(tableaux::euler), rk4(tableaux::rk4);
  const std::complex<double> z(-0.7, 1.3);
  const auto r4 = 1.0 + z + z * z / 2.0 + z * z * z / 6.0 + z * z * z * z / 24.0;
  EXPECT_NEAR(amplification(euler, z), std::abs(1.0 + z), 1e-14);
  EXPECT_NEAR(amplification(rk4, z), std::abs(r4), 1e-14);
  const auto e = real_stability_interval(euler);
  EXPECT_NEAR(e.lo, -2.0, 1e-9);
  EXPECT_NEAR(e.hi, 0.0, 1e-6);
  EXPECT_NEAR(real_stability_interval(rk4).lo, -2.785293563405282, 1e-6);
}

TEST(Stability, ReversibleEulerIsStableExactlyOnMinusOneMinusLambdaToZero) {
  for (double coupling : {0.999, 0.9, 0.5}) {
    const McCallumFoster<double> reversible_euler(tableaux::euler, coupling);
    const auto interval = real_stability_interval(reversible_euler);
    EXPECT_NEAR(interval.lo, -(1.0 - coupling), 1e-8) << "λ = " << coupling;
    EXPECT_NEAR(interval.hi, 0.0, 1e-8) << "λ = " << coupling;
    // The complex step matrix has determinant λ at any z (ALGORITHMS.md §4); its real form
    // on (Re, Im) has |λ|² = λ².
    EXPECT_NEAR(step_matrix(reversible_euler, {-0.3, 0.8}).determinant(), coupling * coupling,
                1e-12);
  }
}

/// Stable exactly on the imaginary segment [−i, i], nowhere else.
void expect_imaginary_segment_only(const Stepper<double>& stepper) {
  for (double y : {0.0, 0.1, 0.5, 0.9, 0.99})
    for (double sign : {1.0, -1.0}) EXPECT_TRUE(is_stable(stepper, {0.0, sign * y})) << y;
  EXPECT_FALSE(is_stable(stepper, {0.0, 1.01}));
  EXPECT_FALSE(is_stable(stepper, {0.0, -1.5}));
  for (double x : {-1e-3, -0.1, -1.0, 1e-3, 0.1})
    for (double y : {0.0, 0.5}) EXPECT_FALSE(is_stable(stepper, {x, y})) << x << " " << y;
  const auto interval = real_stability_interval(stepper);
  EXPECT_NEAR(interval.lo, 0.0, 1e-6);
  EXPECT_NEAR(interval.hi, 0.0, 1e-6);
}

TEST(Stability, ReversibleHeunIsStableOnlyOnTheImaginarySegment) {
  expect_imaginary_segment_only(ReversibleHeun<double>());
}

TEST(Stability, UndampedAlfIsStableOnlyOnTheImaginarySegment) {
  expect_imaginary_segment_only(AsynchronousLeapfrog<double>(1.0));
}

TEST(Stability, DampedAlfIsStableOnMinusTwoOneMinusEtaOverEtaToZero) {
  for (double damping : {0.9, 0.75, 0.6, 0.25}) {
    const AsynchronousLeapfrog<double> alf(damping);
    const auto interval = real_stability_interval(alf);
    EXPECT_NEAR(interval.lo, -2.0 * (1.0 - damping) / damping, 1e-7) << "η = " << damping;
    EXPECT_NEAR(interval.hi, 0.0, 1e-7) << "η = " << damping;
  }
}

TEST(Stability, SamplesTheWindowAndWritesCsv) {
  const ExplicitRK<double> euler(tableaux::euler);
  const StabilityWindow window{
      .re_min = -3, .re_max = 1, .im_min = -1, .im_max = 1, .re_points = 5, .im_points = 3};
  const auto samples = sample_stability(euler, window);
  ASSERT_EQ(samples.size(), 15u);
  EXPECT_EQ(samples.front().re, -3.0);
  EXPECT_EQ(samples.front().im, -1.0);
  EXPECT_NEAR(samples[7].radius, 0.0, 1e-15);  // row im = 0, column re = −1: |1 + z| = 0
  EXPECT_NEAR(samples[5].radius, 2.0, 1e-15);  // z = −3
  std::ostringstream csv;
  write_stability_csv(csv, samples);
  const std::string text = csv.str();
  EXPECT_EQ(text.rfind("re,im,radius,stable\n", 0), 0u);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 16);
  EXPECT_THROW(sample_stability(euler, StabilityWindow{.re_min = 1, .re_max = 0}), Error);
}

}  // namespace
}  // namespace revode
