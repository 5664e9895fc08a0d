// The CDE control path: every scheme passes through the observations, reproduces what it should
// exactly (straight lines for all; the natural spline's smoothness at the knots), its
// derivative weights are the derivative of its value weights, and bad times are named.
#include "revode/cde/control_path.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "revode/cde/observations.hpp"
#include "revode/core/error.hpp"
#include "support/error_of.hpp"

namespace revode {
namespace {

const std::vector<double> kTimes{0.0, 0.3, 0.5, 1.2, 1.6, 2.0};  // irregular on purpose
const Interpolation kSchemes[] = {Interpolation::linear, Interpolation::hermite,
                                  Interpolation::natural};

double value_at(const ControlPath& path, double t, const Vector<double>& x) {
  Vector<double> w;
  path.value_weights(t, w);
  return w.dot(x);
}

double derivative_at(const ControlPath& path, double t, const Vector<double>& x) {
  Vector<double> w;
  path.derivative_weights(t, w);
  return w.dot(x);
}

Vector<double> sampled(double (*g)(double)) {
  Vector<double> x(Index(kTimes.size()));
  for (Index k = 0; k < x.size(); ++k) x[k] = g(kTimes[std::size_t(k)]);
  return x;
}

TEST(ControlPath, PassesThroughTheObservations) {
  const Vector<double> x = sampled([](double t) { return std::sin(3 * t) + t * t; });
  for (Interpolation s : kSchemes) {
    const ControlPath path(kTimes, s);
    for (std::size_t k = 0; k < kTimes.size(); ++k)
      EXPECT_NEAR(value_at(path, kTimes[k], x), x[Index(k)], 1e-14) << interpolation_name(s);
  }
}

TEST(ControlPath, ReproducesStraightLinesAndTheirSlope) {
  const Vector<double> x = sampled([](double t) { return 2.5 * t - 1.0; });
  for (Interpolation s : kSchemes) {
    const ControlPath path(kTimes, s);
    for (double t = -0.2; t < 2.3; t += 0.037) {  // beyond both ends too: pieces extend
      EXPECT_NEAR(value_at(path, t, x), 2.5 * t - 1.0, 1e-12) << interpolation_name(s) << t;
      EXPECT_NEAR(derivative_at(path, t, x), 2.5, 1e-12) << interpolation_name(s) << t;
    }
  }
}

TEST(ControlPath, DerivativeWeightsAreTheDerivativeOfTheValue) {
  const Vector<double> x = sampled([](double t) { return std::cos(2 * t) * t; });
  for (Interpolation s : kSchemes) {
    const ControlPath path(kTimes, s);
    for (double t : {0.1, 0.41, 0.7, 1.3, 1.9}) {
      const double h = 1e-6;
      const double fd = (value_at(path, t + h, x) - value_at(path, t - h, x)) / (2 * h);
      EXPECT_NEAR(derivative_at(path, t, x), fd, 1e-7) << interpolation_name(s) << " t " << t;
    }
  }
}

TEST(ControlPath, HermiteAndNaturalAreSmoothAtTheKnots) {
  const Vector<double> x = sampled([](double t) { return std::exp(t) - 3 * t * t; });
  const double h = 1e-7;
  for (Interpolation s : {Interpolation::hermite, Interpolation::natural}) {
    const ControlPath path(kTimes, s);
    for (std::size_t k = 1; k + 1 < kTimes.size(); ++k) {
      const double left = derivative_at(path, kTimes[k] - h, x);
      const double right = derivative_at(path, kTimes[k] + h, x);
      EXPECT_NEAR(left, right, 1e-5) << interpolation_name(s) << " knot " << k;
    }
  }
  // Hermite's slope at a knot is the backward difference (torchcde's convention).
  const ControlPath hermite(kTimes, Interpolation::hermite);
  for (std::size_t k = 1; k < kTimes.size(); ++k)
    EXPECT_NEAR(derivative_at(hermite, kTimes[k] - 1e-12, x),
                (x[Index(k)] - x[Index(k - 1)]) / (kTimes[k] - kTimes[k - 1]), 1e-8);
  // The natural spline's second derivative vanishes at both ends and is continuous inside.
  const ControlPath natural(kTimes, Interpolation::natural);
  auto second = [&](double t) {
    return (derivative_at(natural, t + h, x) - derivative_at(natural, t - h, x)) / (2 * h);
  };
  EXPECT_NEAR(second(kTimes.front() + 2 * h), 0.0, 1e-5);
  EXPECT_NEAR(second(kTimes.back() - 2 * h), 0.0, 1e-5);
  for (std::size_t k = 1; k + 1 < kTimes.size(); ++k)
    EXPECT_NEAR(second(kTimes[k] - 2 * h), second(kTimes[k] + 2 * h), 1e-4);
}

TEST(ControlPath, LinearIsPiecewiseLinear) {
  const Vector<double> x = sampled([](double t) { return t * t; });
  const ControlPath path(kTimes, Interpolation::linear);
  EXPECT_NEAR(value_at(path, 0.4, x), 0.5 * (0.09 + 0.25), 1e-14);
  EXPECT_NEAR(derivative_at(path, 0.4, x), (0.25 - 0.09) / 0.2, 1e-12);
}

TEST(ControlPath, BadTimesAreNamed) {
  EXPECT_NE(testing::error_of([] {
              ControlPath({0.0, 1.0, 1.0}, Interpolation::linear);
            }).find("increase strictly: time [2] = 1 follows [1] = 1"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] {
              ControlPath({0.0}, Interpolation::linear);
            }).find("expected at least 2"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] {
              ControlPath({0.0, NAN}, Interpolation::natural);
            }).find("time [1] is nan"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] { parse_interpolation("cubic"); }).find("'cubic'"),
            std::string::npos);
}

TEST(Observations, ForwardFillTimeAndCountChannels) {
  // 2 channels, 4 times, 1 sample (channel fastest); channel 0 misses t1, t2; channel 1 misses
  // t0 (filled backward from t1).
  const std::vector<double> t{0.0, 1.0, 2.0, 3.0};
  Vector<double> raw(8);
  raw << 1.0, NAN, NAN, 5.0, NAN, 6.0, 4.0, 7.0;
  const ObservationPath p = prepare_observations(t, raw, 2, 1);
  ASSERT_EQ(p.channels, 5);  // time, 2 data, 2 counts
  Eigen::Map<const Batch<double>> v(p.values.data(), 5, 4);
  Batch<double> expected(5, 4);
  // clang-format off
  expected << 0, 1, 2, 3,   // time
      1, 1, 1, 4,           // channel 0 filled forward
      5, 5, 6, 7,           // channel 1: leading gap takes the first observation
      1, 1, 1, 2,           // counts of channel 0
      0, 1, 2, 3;           // counts of channel 1
  // clang-format on
  EXPECT_EQ(v, expected);
  // The gradient of a raw value collects every entry it was copied into.
  const Vector<double> ones = Vector<double>::Ones(p.values.size());
  Vector<double> folded = fold_observation_gradient(p, raw.size(), ones);
  Vector<double> expected_fold(8);
  expected_fold << 3, 0, 0, 2, 0, 1, 1, 1;
  EXPECT_EQ(folded, expected_fold);

  const ObservationPath shared =
      prepare_observations(t, raw, 2, 1, {.time_channel = false, .counts = CountChannels::shared});
  ASSERT_EQ(shared.channels, 3);
  Eigen::Map<const Batch<double>> s(shared.values.data(), 3, 4);
  EXPECT_EQ(Vector<double>(s.row(2).transpose()), (Vector<double>(4) << 1, 2, 3, 4).finished());
}

TEST(Observations, BadInputIsNamed) {
  const std::vector<double> t{0.0, 1.0, 2.0};
  Vector<double> raw(6);
  raw << 1.0, NAN, 2.0, NAN, 3.0, NAN;
  EXPECT_NE(testing::error_of([&] {
              prepare_observations(t, raw, 2, 1);
            }).find("channel 1 of sample 0 is missing (NaN) at every time"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              prepare_observations(t, raw, 2, 2);
            }).find("have 6 values; expected channels × times × batch = 2 × 3 × 2 = 12"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              prepare_observations({0.0, 2.0, 1.0}, raw, 2, 1);
            }).find("increase strictly"),
            std::string::npos);
  raw[3] = INFINITY;
  EXPECT_NE(testing::error_of([&] { prepare_observations(t, raw, 2, 1); }).find("is inf"),
            std::string::npos);
}

}  // namespace
}  // namespace revode
