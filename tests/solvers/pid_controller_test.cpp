// The controller alone, on scalars (no vector field needed).
#include <gtest/gtest.h>

#include <cmath>

#include "revode/solvers/pid_controller.hpp"

namespace revode {
namespace {

TEST(PidController, IntegralControllerIsSafetyTimesErrorToMinusOneOverK) {
  PidController c;
  const auto d = c.decide(0.5, 4);  // k = 5
  EXPECT_TRUE(d.accept);
  EXPECT_NEAR(d.factor, 0.9 * std::pow(2.0, 0.2), 1e-15);
}

TEST(PidController, RejectsAboveOneAndNeverGrowsARejectedStep) {
  PidController c;
  const auto d = c.decide(3.0, 2);
  EXPECT_FALSE(d.accept);
  EXPECT_LE(d.factor, 1.0);
  EXPECT_FALSE(c.decide(NAN, 2).accept);
}

TEST(PidController, FactorIsClippedAndZeroErrorIsFinite) {
  PidController c;
  EXPECT_EQ(c.decide(0.0, 2).factor, 10.0);
  EXPECT_EQ(c.decide(0.0, 2).factor, 10.0);
  EXPECT_EQ(c.decide(1e6, 2).factor, 0.2);
}

TEST(PidController, ProportionalTermUsesHistory) {
  PidController pi({.pcoeff = 0.4, .icoeff = 0.3});
  pi.decide(0.5, 2);
  const auto d = pi.decide(0.25, 2);  // k = 3: 0.9 · 4^{0.7/3} · 2^{−0.4/3}
  EXPECT_NEAR(d.factor, 0.9 * std::pow(4.0, 0.7 / 3) * std::pow(2.0, -0.4 / 3), 1e-14);
}

TEST(PidController, OptionsAreValidated) {
  EXPECT_THROW(PidController({.safety = 1.5}), Error);
  EXPECT_THROW(PidController({.factor_min = 0}), Error);
  EXPECT_THROW(PidController({.factor_max = 0.5}), Error);
  EXPECT_THROW(PidController({.pcoeff = 0, .icoeff = 0}), Error);
}

}  // namespace
}  // namespace revode
