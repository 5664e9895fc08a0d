// Adam and AdamW against updates worked out by hand, clipping by global norm and the
// learning-rate schedules.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "revode/core/error.hpp"
#include "revode/train/adam.hpp"
#include "revode/train/gradient_clipping.hpp"
#include "revode/train/lr_schedule.hpp"

namespace revode {
namespace {

Vector<double> vec(double a, double b) { return (Vector<double>(2) << a, b).finished(); }

// Gradients for three steps from θ0 = (1, −2), lr = 0.1, β = (0.9, 0.999), ε = 1e-8.
const Vector<double> g1 = vec(0.5, -1.0), g2 = vec(0.1, 0.2), g3 = vec(-0.3, 0.0);

TEST(Adam, MatchesThreeStepsWorkedByHand) {
  Adam adam(AdamOptions{.kind = OptimizerKind::adam}, 2);
  Vector<double> theta = vec(1.0, -2.0);
  // Step 1: m̂ = g and v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
  adam.step(0.1, theta, g1);
  EXPECT_NEAR(theta[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);
  EXPECT_NEAR(theta[1], -2.0 + 0.1 * 1.0 / (1.0 + 1e-8), 1e-15);
  // Step 2, entry 0: m = 0.9·0.05 + 0.1·0.1 = 0.055, v = 0.999·2.5e-4 + 0.001·0.01 = 2.5975e-4,
  // m̂ = 0.055/0.19, v̂ = 2.5975e-4/(1 − 0.999²) = 2.5975e-4/0.001999.
  adam.step(0.1, theta, g2);
  const double m_hat = 0.055 / 0.19, v_hat = 2.5975e-4 / 0.001999;
  EXPECT_NEAR(theta[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8) - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8),
              1e-14);
  EXPECT_NEAR(theta[0], 0.8196959063846518, 1e-14);
  EXPECT_NEAR(theta[1], -1.8488973939904947, 1e-14);
  adam.step(0.1, theta, g3);
  EXPECT_NEAR(theta[0], 0.7986246117635081, 1e-14);
  EXPECT_NEAR(theta[1], -1.8093949307841704, 1e-14);
  EXPECT_EQ(adam.state().step, 3);
}

TEST(AdamW, DecaysWeightsOutsideTheAdaptiveStep) {
  Adam adamw(AdamOptions{.kind = OptimizerKind::adamw, .weight_decay = 0.1}, 2);
  Vector<double> theta = vec(1.0, -2.0);
  adamw.step(0.1, theta, g1);
  // θ1 = θ0 − lr·(g/(|g| + ε) + wd·θ0): the decay does not pass through the moments.
  EXPECT_NEAR(theta[0], 1.0 - 0.1 * (0.5 / (0.5 + 1e-8) + 0.1 * 1.0), 1e-15);
  EXPECT_NEAR(theta[1], -2.0 - 0.1 * (-1.0 / (1.0 + 1e-8) + 0.1 * -2.0), 1e-15);
  adamw.step(0.1, theta, g2);
  EXPECT_NEAR(theta[0], 0.8007959063646518, 1e-14);
  EXPECT_NEAR(theta[1], -1.8100973939804945, 1e-14);
}

TEST(Adam, WeightDecayIsCoupledL2) {
  Adam adam(AdamOptions{.kind = OptimizerKind::adam, .weight_decay = 0.1}, 2);
  Vector<double> theta = vec(1.0, -2.0);
  adam.step(0.1, theta, g1);  // g' = g + wd·θ = (0.6, −1.2): still ≈ sign(g') after step 1
  EXPECT_NEAR(theta[0], 1.0 - 0.1 * 0.6 / (0.6 + 1e-8), 1e-15);
  adam.step(0.1, theta, g2);
  EXPECT_NEAR(theta[0], 0.8136483454297575, 1e-14);
  EXPECT_NEAR(theta[1], -1.8336169077420748, 1e-14);
}

TEST(Adam, RestoredStateContinuesExactly) {
  Adam a(AdamOptions{}, 2), b(AdamOptions{}, 2);
  Vector<double> ta = vec(1.0, -2.0);
  a.step(0.1, ta, g1);
  b.restore(a.state());
  Vector<double> tb = ta;
  a.step(0.1, ta, g2);
  b.step(0.1, tb, g2);
  EXPECT_TRUE(a.state() == b.state());
  EXPECT_EQ(ta, tb);
  AdamState wrong;
  wrong.m = Vector<double>::Zero(3);
  wrong.v = Vector<double>::Zero(3);
  EXPECT_THROW(a.restore(wrong), Error);
  EXPECT_THROW(Adam(AdamOptions{.beta1 = 1.0}, 2), Error);
  EXPECT_THROW(parse_optimizer("sgd"), Error);
}

TEST(Adam, RejectsANonFiniteOrNegativeLearningRateBeforeAnyChange) {
  Adam a(AdamOptions{}, 2);
  for (double lr :
       {std::numeric_limits<double>::infinity(), -0.1, std::numeric_limits<double>::quiet_NaN()}) {
    Vector<double> theta = vec(1.0, -2.0);
    try {
      a.step(lr, theta, g1);
      ADD_FAILURE() << "lr = " << lr << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("learning rate lr = "), std::string::npos) << e.what();
    }
    EXPECT_EQ(theta, vec(1.0, -2.0));
    EXPECT_EQ(a.state().step, 0);
  }
  Vector<double> theta = vec(1.0, -2.0);
  a.step(0.0, theta, g1);  // a cosine schedule may round its last lr to 0
  EXPECT_EQ(theta, vec(1.0, -2.0));
}

TEST(Adam, RejectsAParameterCountOutOfRange) {
  EXPECT_THROW(Adam(AdamOptions{}, -1), Error);
  try {
    Adam(AdamOptions{}, Index{1} << 62);
    ADD_FAILURE() << "2^62 parameters accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("param_count = 4611686018427387904"), std::string::npos)
        << e.what();
  }
}

TEST(ClipGlobalNorm, RejectsNonFiniteGradientsAndSurvivesHugeOnes) {
  Vector<double> g = vec(std::numeric_limits<double>::infinity(), 1.0);
  EXPECT_THROW(clip_global_norm(g, 1.0), Error);
  g = vec(std::numeric_limits<double>::quiet_NaN(), 1.0);
  EXPECT_THROW(clip_global_norm(g, 1.0), Error);
  g = vec(3e200, 4e200);  // the plain norm overflows, the scaled one does not
  EXPECT_DOUBLE_EQ(clip_global_norm(g, 1.0), 5e200);
  EXPECT_NEAR(g[0], 0.6, 1e-15);
}

TEST(ClipGlobalNorm, RescalesOnlyAboveTheBound) {
  Vector<double> g = vec(3.0, 4.0);
  EXPECT_DOUBLE_EQ(clip_global_norm(g, 10.0), 5.0);
  EXPECT_EQ(g, vec(3.0, 4.0));
  EXPECT_DOUBLE_EQ(clip_global_norm(g, 1.0), 5.0);
  EXPECT_NEAR(g[0], 0.6, 1e-15);
  EXPECT_NEAR(g[1], 0.8, 1e-15);
  EXPECT_DOUBLE_EQ(clip_global_norm(g, std::numeric_limits<double>::infinity()), 1.0);
  EXPECT_THROW(clip_global_norm(g, 0.0), Error);
}

TEST(LrSchedule, ConstantAndCosine) {
  const LrSchedule constant{ScheduleKind::constant, 0.01, 0.0, 100};
  EXPECT_EQ(constant.at(0), 0.01);
  EXPECT_EQ(constant.at(99), 0.01);
  const LrSchedule cosine{ScheduleKind::cosine, 0.01, 0.001, 100};
  EXPECT_DOUBLE_EQ(cosine.at(0), 0.01);
  EXPECT_DOUBLE_EQ(cosine.at(50), 0.0055);  // halfway: the mean of lr and final_lr
  EXPECT_DOUBLE_EQ(cosine.at(100), 0.001);
  EXPECT_DOUBLE_EQ(cosine.at(200), 0.001);
  EXPECT_THROW(validate(LrSchedule{ScheduleKind::cosine, 0.01, 0.02, 100}), Error);
  EXPECT_THROW(parse_schedule("linear"), Error);
}

}  // namespace
}  // namespace revode
