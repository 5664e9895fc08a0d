// check_vjp must accept a correct VJP and catch each way a hand-written one goes wrong.
#include "revode/core/check_vjp.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "revode/core/error.hpp"

namespace revode {
namespace {

enum class Bug { none, state_sign, parameter_factor, overwrites_theta_bar, leaves_y_bar_row };

/// f = (θ0 · y0 · y1, sin(θ1 · y0)), with an optional deliberate bug in its VJP.
template <class T>
class ToyField final : public VectorField<T> {
 public:
  explicit ToyField(Bug bug = Bug::none) : bug_(bug) {}
  Index state_dim() const override { return 2; }
  Index param_count() const override { return 2; }
  std::string name() const override { return "toy"; }
  void eval(T, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override {
    for (Index j = 0; j < y.cols(); ++j) {
      dy(0, j) = theta[0] * y(0, j) * y(1, j);
      dy(1, j) = std::sin(theta[1] * y(0, j));
    }
  }
  void vjp(T, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta, const ConstBatchRef<T>& a,
           BatchRef<T> y_bar, VectorRef<T> theta_bar) const override {
    if (bug_ == Bug::overwrites_theta_bar) theta_bar.setZero();
    for (Index j = 0; j < y.cols(); ++j) {
      const T cosine = std::cos(theta[1] * y(0, j));
      const T sign = bug_ == Bug::state_sign ? T(-1) : T(1);
      y_bar(0, j) = a(0, j) * theta[0] * y(1, j) + sign * a(1, j) * theta[1] * cosine;
      if (bug_ != Bug::leaves_y_bar_row) y_bar(1, j) = a(0, j) * theta[0] * y(0, j);
      const T factor = bug_ == Bug::parameter_factor ? T(1.001) : T(1);
      theta_bar[0] += factor * a(0, j) * y(0, j) * y(1, j);
      theta_bar[1] += a(1, j) * y(0, j) * cosine;
    }
  }
  std::unique_ptr<VectorField<T>> clone() const override {
    return std::make_unique<ToyField>(*this);
  }

 private:
  Bug bug_;
};

/// f = −y: no parameters at all.
class DecayField final : public VectorField<double> {
 public:
  Index state_dim() const override { return 3; }
  Index param_count() const override { return 0; }
  std::string name() const override { return "decay"; }
  void eval(double, const ConstBatchRef<double>& y, const ConstVectorRef<double>&,
            BatchRef<double> dy) const override {
    dy = -y;
  }
  void vjp(double, const ConstBatchRef<double>&, const ConstVectorRef<double>&,
           const ConstBatchRef<double>& a, BatchRef<double> y_bar,
           VectorRef<double>) const override {
    y_bar = -a;
  }
  std::unique_ptr<VectorField<double>> clone() const override {
    return std::make_unique<DecayField>();
  }
};

template <class T>
Batch<T> states(Index batch) {
  return Batch<T>::Random(2, batch) + Batch<T>::Constant(2, batch, T(1));
}

Vector<double> toy_theta() { return Vector<double>{{0.7, -1.3}}; }

TEST(CheckVjp, AcceptsCorrectVjp) {
  for (Index batch : {1, 5}) {
    const VjpCheckReport report =
        check_vjp(ToyField<double>(), 0.2, states<double>(batch), toy_theta());
    EXPECT_TRUE(report.within(1e-8)) << report.message;
    EXPECT_NE(report.message.find("toy"), std::string::npos) << report.message;
  }
}

TEST(CheckVjp, CatchesWrongStateDerivative) {
  const auto report =
      check_vjp(ToyField<double>(Bug::state_sign), 0.0, states<double>(5), toy_theta());
  EXPECT_GT(report.max_relative_error_y, 1e-2) << report.message;
  EXPECT_LT(report.max_relative_error_theta, 1e-8) << report.message;
}

TEST(CheckVjp, CatchesWrongParameterDerivative) {
  // A 0.1 % error in one entry is far above the finite-difference noise.
  const auto report =
      check_vjp(ToyField<double>(Bug::parameter_factor), 0.0, states<double>(1), toy_theta());
  EXPECT_LT(report.max_relative_error_y, 1e-8) << report.message;
  EXPECT_GT(report.max_relative_error_theta, 1e-5) << report.message;
}

TEST(CheckVjp, CatchesThetaBarOverwrittenInsteadOfAccumulated) {
  const auto report =
      check_vjp(ToyField<double>(Bug::overwrites_theta_bar), 0.0, states<double>(5), toy_theta());
  EXPECT_GT(report.max_relative_error_theta, 1e-2) << report.message;
}

TEST(CheckVjp, CatchesUnwrittenYBarEntries) {
  const auto report =
      check_vjp(ToyField<double>(Bug::leaves_y_bar_row), 0.0, states<double>(5), toy_theta());
  EXPECT_EQ(report.max_relative_error_y, std::numeric_limits<double>::infinity());
  EXPECT_NE(report.message.find("non-finite"), std::string::npos) << report.message;
}

TEST(CheckVjp, FieldWithoutParametersHasZeroThetaError) {
  const auto report = check_vjp(DecayField(), 0.0, Batch<double>::Random(3, 4), Vector<double>());
  EXPECT_TRUE(report.within(1e-10)) << report.message;
  EXPECT_EQ(report.max_relative_error_theta, 0.0);
}

TEST(CheckVjp, SameSeedGivesSameReport) {
  const Batch<double> y = states<double>(3);
  const VjpCheckOptions options{.directions = 3, .seed = 42};
  const auto bad = ToyField<double>(Bug::state_sign);
  const auto first = check_vjp(bad, 0.0, y, toy_theta(), options);
  const auto second = check_vjp(bad, 0.0, y, toy_theta(), options);
  EXPECT_EQ(first.max_relative_error_y, second.max_relative_error_y);
  EXPECT_EQ(first.message, second.message);
}

TEST(CheckVjp, WorksInFloat) {
  const Batch<float> y = states<float>(5);
  const Vector<float> theta = toy_theta().cast<float>();
  const auto good = check_vjp(ToyField<float>(), 0.0f, y, theta);
  EXPECT_TRUE(good.within(1e-2)) << good.message;
  const auto bad = check_vjp(ToyField<float>(Bug::state_sign), 0.0f, y, theta);
  EXPECT_GT(bad.max_relative_error_y, 0.1) << bad.message;
}

TEST(CheckVjp, RejectsBadShapesAndOptions) {
  const ToyField<double> field;
  EXPECT_THROW(check_vjp(field, 0.0, Batch<double>::Zero(3, 1), toy_theta()), Error);
  EXPECT_THROW(check_vjp(field, 0.0, Batch<double>::Zero(2, 0), toy_theta()), Error);
  EXPECT_THROW(check_vjp(field, 0.0, states<double>(1), Vector<double>::Zero(3)), Error);
  EXPECT_THROW(check_vjp(field, 0.0, states<double>(1), toy_theta(), {.directions = 0}), Error);
  EXPECT_THROW(
      check_vjp(field, std::numeric_limits<double>::quiet_NaN(), states<double>(1), toy_theta()),
      Error);
  try {
    check_vjp(field, 0.0, states<double>(1), toy_theta(), {.step = -1.0});
    ADD_FAILURE() << "negative step accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("VjpCheckOptions::step = -1"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace revode
