// The DEQ classifier: the spirals generator, the cross-entropy gradient through every DEQ
// gradient method against central differences, and input errors.
#include "revode/deq/classifier.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "revode/core/error.hpp"
#include "support/finite_difference.hpp"

namespace revode {
namespace {

using testing::relative_error;

TEST(DeqClassifierTest, SpiralsAreBalancedInterleavedAndSeeded) {
  const LabelledPoints a = make_spirals(3, 50, 1.5, 0.05, 1);
  ASSERT_EQ(a.x.rows(), 2);
  ASSERT_EQ(a.x.cols(), 150);
  for (Index j = 0; j < 150; ++j) EXPECT_EQ(a.labels[std::size_t(j)], j % 3);
  EXPECT_EQ(make_spirals(3, 50, 1.5, 0.05, 1).x, a.x);
  EXPECT_NE(make_spirals(3, 50, 1.5, 0.05, 2).x, a.x);
  EXPECT_LT(a.x.cwiseAbs().maxCoeff(), 1.5);
  const LabelledPoints clean = make_spirals(2, 4, 1.0, 0.0, 1);
  // Point 0 of arm 0: radius 1/8 at angle 2π/8.
  EXPECT_NEAR(clean.x(0, 0), 0.125 * std::cos(std::numbers::pi / 4), 1e-15);
  EXPECT_THROW(make_spirals(1, 4, 1.0, 0.0, 1), Error);
  EXPECT_THROW(make_spirals(2, 0, 1.0, 0.0, 1), Error);
  EXPECT_THROW(make_spirals(2, 4, 1.0, -1.0, 1), Error);
}

TEST(DeqClassifierTest, CrossEntropyGradientMatchesCentralDifferences) {
  const DeqClassifier<double> model({3, 2, {4}}, 3);
  const Vector<double> theta = model.init_params(3, 0.6);
  ASSERT_EQ(theta.size(), model.layer().param_count() + 3 * 4);
  const LabelledPoints data = make_spirals(3, 2, 1.0, 0.1, 4);
  DeqOptions o;
  o.tol = 0.0, o.max_steps = 5;
  const auto loss_at = [&](const Vector<double>& th) {
    return model.evaluate(data.x, data.labels, th, o).loss;
  };
  for (const DeqGradient g : {DeqGradient::reversible, DeqGradient::backprop}) {
    o.gradient = g;
    const auto exact = model.loss_and_gradient(data.x, data.labels, theta, o);
    EXPECT_NEAR(exact.loss, loss_at(theta), 1e-15);
    Vector<double> fd(theta.size());
    for (Index i = 0; i < theta.size(); ++i) {
      Vector<double> plus = theta, minus = theta;
      plus[i] += 1e-6, minus[i] -= 1e-6;
      fd[i] = (loss_at(plus) - loss_at(minus)) / 2e-6;
    }
    EXPECT_LE(relative_error(exact.grad, fd), 1e-7) << gradient_name(g);
    EXPECT_GE(exact.accuracy, 0.0);
    EXPECT_LE(exact.accuracy, 1.0);
  }
}

TEST(DeqClassifierTest, Float32RunsAndBadInputsAreErrors) {
  const DeqClassifier<float> model({3, 2, {4}}, 3);
  const Vector<float> theta = model.init_params(3);
  const LabelledPoints data = make_spirals(3, 4, 1.0, 0.1, 4);
  const Batch<float> x = data.x.cast<float>();
  const auto r = model.loss_and_gradient(x, data.labels, theta, DeqOptions{});
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_EQ(r.grad.size(), theta.size());
  std::vector<int> bad = data.labels;
  bad[2] = 3;
  EXPECT_THROW(model.evaluate(x, bad, theta, DeqOptions{}), Error);
  bad.pop_back();
  EXPECT_THROW(model.evaluate(x, bad, theta, DeqOptions{}), Error);
  EXPECT_THROW(model.evaluate(x, data.labels, theta.head(4), DeqOptions{}), Error);
  EXPECT_THROW(DeqClassifier<double>({3, 2, {4}}, 1), Error);
}

}  // namespace
}  // namespace revode
