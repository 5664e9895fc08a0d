// The neural CDE field: its VJP against finite differences, every exact gradient method against
// direct backprop through the same discrete solve (reversible solvers included) for each
// interpolation scheme, central finite differences of the loss with respect to θ, z0 and the
// observations, and the shape errors it names.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "revode/cde/cde_field.hpp"
#include "revode/cde/cde_network_field.hpp"
#include "revode/cde/observations.hpp"
#include "revode/core/check_vjp.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/solvers/registry.hpp"
#include "support/error_of.hpp"
#include "support/finite_difference.hpp"

namespace revode {
namespace {

using testing::central_differences;
using testing::relative_error;

const std::vector<double> kTimes{0.0, 0.4, 0.7, 1.5, 2.0};  // irregular knots
constexpr Index kBatch = 3, kHidden = 3;

/// Two data channels with a gap per sample, prepared with a time channel and no counts.
ObservationPath observations() {
  Vector<double> raw = Vector<double>::Random(2 * Index(kTimes.size()) * kBatch);
  raw[0 + 2 * (1 + 5 * 1)] = NAN;  // channel 0 of sample 1 missing at t1: filled forward
  return prepare_observations(kTimes, raw, 2, kBatch,
                              {.time_channel = true, .counts = CountChannels::none});
}

template <class T>
struct CdeCase {
  explicit CdeCase(Interpolation scheme)
      : path(observations()),
        field(CdeSpec{.hidden = kHidden, .hidden_widths = {8}}, ControlPath(kTimes, scheme),
              path.channels, kBatch),
        theta(field.init_params(Init::pytorch_default, 3, path.values)),
        z0(Batch<double>::Random(kHidden, kBatch).template cast<T>()) {}
  ObservationPath path;
  CdeField<T> field;
  Vector<T> theta;
  Batch<T> z0;
};

SaveAt at_the_knots() {
  SaveAt s;
  s.ts.assign(kTimes.begin() + 1, kTimes.end());  // steps land on every knot
  return s;
}

constexpr Interpolation kSchemes[] = {Interpolation::linear, Interpolation::hermite,
                                      Interpolation::natural};

TEST(CdeField, VjpMatchesFiniteDifferences) {
  for (Interpolation s : kSchemes) {
    const CdeCase<double> c(s);
    for (double t : {0.1, 0.55, 1.9}) {
      const VjpCheckReport r = check_vjp<double>(c.field, t, c.z0, c.theta, {});
      EXPECT_TRUE(r.within(1e-6)) << interpolation_name(s) << " t " << t << ": " << r.message;
    }
  }
}

struct SolverCase {
  std::string solver;
  StepControl control;
  std::vector<std::string> methods;
};

std::vector<SolverCase> solver_cases() {
  const std::vector<std::string> explicit_methods{"anode", "checkpoint:2", "symplectic"};
  const StepControl fixed = FixedSteps{12};
  const StepControl adaptive = AdaptiveSteps{.rtol = 1e-6, .atol = 1e-8};
  return {{"midpoint", fixed, explicit_methods},
          {"rk4", fixed, explicit_methods},
          {"dopri5", adaptive, explicit_methods},
          {"reversible:midpoint", fixed, {"reversible", "checkpoint:3"}},
          {"reversible:rk4", fixed, {"reversible"}},
          {"reversible-heun", fixed, {"reversible"}},
          {"reversible:dopri5", adaptive, {"reversible"}}};
}

TEST(CdeGradients, EveryExactMethodMatchesBackprop) {
  MseZero<double> loss;
  for (Interpolation s : kSchemes) {
    const CdeCase<double> c(s);
    for (const SolverCase& sc : solver_cases()) {
      const auto stepper = make_stepper<double>(sc.solver);
      const GradientProblem<double> p{c.field, *stepper, sc.control, at_the_knots(), 0.0, 2.0,
                                      c.z0,    c.theta,  loss};
      const auto reference = make_gradient_method<double>("backprop")->compute(p);
      ASSERT_GT(reference.grad_params.tail(c.field.observation_count()).norm(), 0.0);
      for (const std::string& method : sc.methods) {
        SCOPED_TRACE(fmt::format("{} {} {}", interpolation_name(s), sc.solver, method));
        const auto r = make_gradient_method<double>(method)->compute(p);
        EXPECT_EQ(r.stats.steps, reference.stats.steps);
        EXPECT_LE(relative_error(r.grad_params, reference.grad_params), 1e-10);
        EXPECT_LE(relative_error(r.grad_y0, reference.grad_y0), 1e-10);
      }
    }
  }
}

TEST(CdeGradients, MatchFiniteDifferencesInThetaZ0AndObservations) {
  MseZero<double> loss;
  for (Interpolation s : kSchemes) {
    const CdeCase<double> c(s);
    const auto stepper = make_stepper<double>("reversible:rk4");
    const GradientProblem<double> p{c.field, *stepper, FixedSteps{8}, at_the_knots(), 0.0, 2.0,
                                    c.z0,    c.theta,  loss};
    const auto r = make_gradient_method<double>("reversible")->compute(p);
    const auto fd = central_differences(p);
    const Index obs = c.field.observation_count();
    SCOPED_TRACE(interpolation_name(s));
    EXPECT_LE(relative_error(r.grad_params.head(c.field.network_param_count()),
                             fd.grad_params.head(c.field.network_param_count())),
              1e-6);
    EXPECT_LE(relative_error(r.grad_params.tail(obs), fd.grad_params.tail(obs)), 1e-6);
    EXPECT_LE(relative_error(r.grad_y0, fd.grad_y0), 1e-6);
  }
}

// revode train's CDE (CdeNetworkField): θ is the network alone, the observations fixed; its
// gradient is the network part of the CdeField's, the reversible method matches backprop, and a
// column selection (a trainer's mini-batch or chunk) is the CDE over those samples' paths.
TEST(CdeNetworkField, GradientIsTheNetworkPartOfTheCdeFields) {
  MseZero<double> loss;
  const CdeCase<double> c(Interpolation::hermite);
  const Index network = c.field.network_param_count(), obs = c.field.observation_count();
  const auto clone_cde = [&] {
    return std::unique_ptr<CdeField<double>>(
        static_cast<CdeField<double>*>(c.field.clone().release()));
  };
  const CdeNetworkField<double> fixed(clone_cde(), c.theta.tail(obs));
  ASSERT_EQ(fixed.param_count(), network);
  EXPECT_FALSE(fixed.column_local());
  const Vector<double> theta = c.theta.head(network);
  const auto stepper = make_stepper<double>("reversible:rk4");
  const GradientProblem<double> full{c.field, *stepper, FixedSteps{8}, at_the_knots(), 0.0, 2.0,
                                     c.z0,    c.theta,  loss};
  const GradientProblem<double> part{fixed, *stepper, FixedSteps{8}, at_the_knots(), 0.0, 2.0,
                                     c.z0,  theta,    loss};
  const auto reference = make_gradient_method<double>("backprop")->compute(full);
  const auto backprop = make_gradient_method<double>("backprop")->compute(part);
  const auto reversible = make_gradient_method<double>("reversible")->compute(part);
  ASSERT_EQ(backprop.grad_params.size(), network);
  EXPECT_EQ(backprop.loss, reference.loss);
  EXPECT_LE(relative_error(backprop.grad_params, reference.grad_params.head(network)), 1e-14);
  EXPECT_LE(relative_error(reversible.grad_params, backprop.grad_params), 1e-10);
  EXPECT_LE(relative_error(reversible.grad_y0, backprop.grad_y0), 1e-10);
  // A clone carries the same observations.
  const auto copy = fixed.clone();
  Batch<double> a(kHidden, kBatch), b(kHidden, kBatch);
  fixed.eval(0.5, c.z0, theta, a);
  copy->eval(0.5, c.z0, theta, b);
  EXPECT_EQ(a, b);
  // A column selection is the CDE over those samples' paths: columns {2, 0} of the full eval.
  const auto picked = fixed.columns({2, 0});
  Batch<double> z(kHidden, 2), dz(kHidden, 2);
  z << c.z0.col(2), c.z0.col(0);
  picked->eval(0.5, z, theta, dz);
  // Equal up to rounding: a 2-column and a 3-column product may take different kernel paths.
  EXPECT_LE(relative_error(Vector<double>(dz.col(0)), Vector<double>(a.col(2))), 1e-14);
  EXPECT_LE(relative_error(Vector<double>(dz.col(1)), Vector<double>(a.col(0))), 1e-14);
  EXPECT_NE(testing::error_of([&] { (void)fixed.columns({3}); }).find("sample 3; expected 0 … 2"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] { CdeNetworkField<double>(clone_cde(), Vector<double>(2)); })
                .find("2 observation values given"),
            std::string::npos);
}

TEST(CdeGradients, ObservationGradientIsPerSample) {
  // Column b of the state sees sample b's observations only: the observation gradient of
  // sample 0 in a batch of 3 equals that of a batch-1 field run on sample 0 alone.
  const CdeCase<double> c(Interpolation::hermite);
  const Index per_sample = c.path.channels * c.path.knots;
  CdeField<double> single(c.field.spec(), c.field.path(), c.path.channels, 1);
  Vector<double> theta1(single.param_count());
  theta1 << c.theta.head(c.field.network_param_count()),
      c.theta.segment(c.field.network_param_count(), per_sample);
  MseZero<double> loss;
  const auto stepper = make_stepper<double>("rk4");
  const GradientProblem<double> all{c.field, *stepper, FixedSteps{8}, at_the_knots(), 0.0, 2.0,
                                    c.z0,    c.theta,  loss};
  const GradientProblem<double> one{single,      *stepper, FixedSteps{8}, at_the_knots(), 0.0, 2.0,
                                    c.z0.col(0), theta1,   loss};
  const auto ra = make_gradient_method<double>("backprop")->compute(all);
  const auto r1 = make_gradient_method<double>("backprop")->compute(one);
  // MseZero averages over the batch, hence the factor.
  const Vector<double> from_batch =
      double(kBatch) * ra.grad_params.segment(c.field.network_param_count(), per_sample);
  EXPECT_LE(relative_error(from_batch, r1.grad_params.tail(per_sample)), 1e-12);
}

TEST(CdeGradients, Float32RunsEveryScheme) {
  MseZero<float> loss;
  for (Interpolation s : kSchemes) {
    const CdeCase<float> c(s);
    const auto stepper = make_stepper<float>("reversible:rk4");
    const GradientProblem<float> p{c.field, *stepper, FixedSteps{8}, at_the_knots(), 0.0, 2.0,
                                   c.z0,    c.theta,  loss};
    const auto reference = make_gradient_method<float>("backprop")->compute(p);
    const auto r = make_gradient_method<float>("reversible")->compute(p);
    EXPECT_LE(relative_error(r.grad_params.cast<double>(), reference.grad_params.cast<double>()),
              1e-3);
  }
}

TEST(CdeField, ShapeErrorsAreNamed) {
  const CdeCase<double> c(Interpolation::linear);
  Batch<double> dy(kHidden, kBatch);
  const Batch<double> wrong_batch = Batch<double>::Zero(kHidden, kBatch + 1);
  Batch<double> dy_wrong(kHidden, kBatch + 1);
  EXPECT_NE(testing::error_of([&] {
              c.field.eval(0.0, wrong_batch, c.theta, dy_wrong);
            }).find("has 4 columns; expected the batch 3"),
            std::string::npos);
  const Vector<double> short_theta = c.theta.head(c.theta.size() - 1);
  EXPECT_NE(
      testing::error_of([&] {
        c.field.eval(0.0, c.z0, short_theta, dy);
      }).find(fmt::format("θ has {} entries; expected {}", short_theta.size(), c.theta.size())),
      std::string::npos);
  const Vector<double> few = Vector<double>::Zero(4);
  EXPECT_NE(testing::error_of([&] {
              (void)c.field.init_params(Init::glorot, 0, few);
            }).find("have 4 values; expected channels × knots × batch = 3 × 5 × 3 = 45"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              CdeField<double>(CdeSpec{.hidden = 0, .hidden_widths = {}},
                               ControlPath(kTimes, Interpolation::linear), 3, 1);
            }).find("hidden size 0"),
            std::string::npos);
}

}  // namespace
}  // namespace revode
