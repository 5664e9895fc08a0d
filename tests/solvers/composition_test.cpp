// The symmetric compositions of reversible steps (reversible/composition.hpp): convergence at
// order 4 and 6 on a linear oscillator and an eccentric Kepler orbit (state, energy and angular
// momentum), the embedded estimate's order, exact inversion after a thousand adaptive steps,
// time-dependent fields, and option checks.
#include "revode/solvers/reversible/composition.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "revode/fields/kepler.hpp"
#include "revode/fields/linear.hpp"
#include "revode/gradients/reversible_backprop.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/solvers/reversible/alf.hpp"

namespace revode {
namespace {

/// Every composition in the solver registry, found by type.
std::vector<std::string> composition_names() {
  std::vector<std::string> names;
  for (const auto& name : solver_names())
    if (dynamic_cast<Composition<double>*>(make_stepper<double>(name).get()) != nullptr)
      names.push_back(name);
  return names;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

/// Least-squares slope of log(error(n)) against log(1/n) over n0, 2 n0, …, 2^(m−1) n0.
double fitted_order(const std::function<double(Index)>& error, Index n0, int m) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (int i = 0; i < m; ++i) {
    const Index n = n0 << i;
    const double x = -std::log(double(n)), y = std::log(error(n));
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

/// Step counts in the asymptotic range (errors well above round-off): 64 … 512 for order 4,
/// 64 … 256 for order 6 (whose error at 512 steps nears round-off).
int doublings(const Stepper<double>& stepper) { return stepper.order() >= 6 ? 3 : 4; }

class EveryComposition : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryComposition, ConvergesAtItsOrderOnALinearOscillator) {
  const auto stepper = make_stepper<double>(GetParam());
  LinearField<double> f(2);
  Vector<double> a(4);
  a << 0.0, -1.0, 1.0, 0.0;  // A = [[0, 1], [−1, 0]]: y = (cos t, −sin t)
  Batch<double> y0(2, 1);
  y0 << 1.0, 0.0;
  const auto error = [&](Index n) {
    const auto sol =
        solve<double>(f, *stepper, FixedSteps{n}, SaveAt::final_time(4.0), 0.0, 4.0, y0, a);
    return (sol.ys.back().col(0) - Vector<double>{{std::cos(4.0), -std::sin(4.0)}}).norm();
  };
  const double slope = fitted_order(error, 16, doublings(*stepper));
  RecordProperty("fitted_order", fmt::format("{:.3f}", slope));
  EXPECT_NEAR(slope, stepper->order(), 0.2) << GetParam();
}

TEST_P(EveryComposition, ConvergesAtItsOrderOnAnEccentricKeplerOrbitWithItsInvariants) {
  // e = 0.3 from perihelion to t = 3: the state error against Kepler's equation, and the drift
  // of the energy H and the angular momentum L, all at the composite's order.
  const auto stepper = make_stepper<double>(GetParam());
  KeplerField<double> f;
  const Vector<double> theta = f.default_params();
  const Batch<double> y0 = kepler_eccentric_orbit(0.0, 0.3);
  const double h0 = kepler_energy(y0.col(0)), l0 = kepler_angular_momentum(y0.col(0));
  const auto final_state = [&](Index n) -> Vector<double> {
    return solve<double>(f, *stepper, FixedSteps{n}, SaveAt::final_time(3.0), 0.0, 3.0, y0, theta)
        .ys.back()
        .col(0);
  };
  const Vector<double> exact = kepler_eccentric_orbit(3.0, 0.3);
  const int m = doublings(*stepper);
  const double state =
      fitted_order([&](Index n) { return (final_state(n) - exact).norm(); }, 64, m);
  const double energy =
      fitted_order([&](Index n) { return std::abs(kepler_energy(final_state(n)) - h0); }, 64, m);
  const double momentum = fitted_order(
      [&](Index n) { return std::abs(kepler_angular_momentum(final_state(n)) - l0); }, 64, m);
  RecordProperty("fitted_order", fmt::format("{:.3f} {:.3f} {:.3f}", state, energy, momentum));
  EXPECT_NEAR(state, stepper->order(), 0.2) << GetParam();
  EXPECT_NEAR(energy, stepper->order(), 0.2) << GetParam();
  EXPECT_NEAR(momentum, stepper->order(), 0.2) << GetParam();
}

TEST_P(EveryComposition, EmbeddedEstimateHasItsStatedOrder) {
  // One step from perihelion of the e = 0.6 orbit: the estimate shrinks like h^(error_order + 1).
  const auto stepper = make_stepper<double>(GetParam());
  KeplerField<double> f;
  const Vector<double> theta = f.default_params();
  const Batch<double> y0 = kepler_eccentric_orbit(0.0, 0.6);
  Batch<double> x0(stepper->state_copies() * 4, 1), x1(x0.rows(), 1), error;
  Batch<double> tape(4, stepper->tape_cols(1));
  stepper->initialize(f, 0.0, y0, theta, x0);
  const auto estimate = [&](Index n) {
    stepper->step(f, 0.0, 0.2 / double(n), x0, theta, x1, tape, &error, false);
    return error.norm();
  };
  const double slope = fitted_order(estimate, 16, 3);
  RecordProperty("fitted_order", fmt::format("{:.3f}", slope));
  EXPECT_EQ(stepper->error_order(), 2);
  EXPECT_NEAR(slope, stepper->error_order() + 1, 0.2) << GetParam();
}

TEST_P(EveryComposition, AThousandAdaptiveStepsForwardThenBackRebuildTheStart) {
  // Reversible backprop replays the accepted steps backwards through the exact inverse; its
  // reconstruction error is max |ỹ0 − y0| / max |y0| over the batch.
  const auto stepper = make_stepper<double>(GetParam());
  KeplerField<double> f;
  const Vector<double> theta = f.default_params();
  Batch<double> y0(4, 2);
  y0 << kepler_eccentric_orbit(0.0, 0.5), kepler_eccentric_orbit(1.0, 0.3);
  MseZero<double> loss;
  const double tol = stepper->order() >= 6 ? 1e-10 : 1e-8;
  const GradientProblem<double> p{f,
                                  *stepper,
                                  AdaptiveSteps{.rtol = tol, .atol = tol},
                                  SaveAt::final_time(12.0),
                                  0.0,
                                  12.0,
                                  y0,
                                  theta,
                                  loss};
  const auto r = ReversibleBackprop<double>().compute(p);
  RecordProperty("steps", fmt::format("{}", r.stats.steps));
  RecordProperty("reconstruction_error", fmt::format("{:.3e}", r.stats.reconstruction_error));
  EXPECT_GE(r.stats.steps, 1000);
  EXPECT_LT(r.stats.reconstruction_error, 1e-10) << GetParam();
}

TEST_P(EveryComposition, InvertsExactlyOnATimeDependentField) {
  // The sub-step times τ_i are formed identically forwards and backwards (negative sub-steps
  // included), so a field that reads t inverts to round-off as well.
  const auto stepper = make_stepper<double>(GetParam());
  const auto* reversible = dynamic_cast<const ReversibleStepper<double>*>(stepper.get());
  const Mlp<double> f(parse_mlp_spec("2,12,2", Activation::tanh, /*time_input=*/true));
  const Vector<double> theta = f.init_params(Init::pytorch_default, 4);
  Batch<double> y0(2, 3);
  y0 << 0.5, -1.0, 0.2, 1.5, 0.1, -0.7;
  const Index rows = stepper->state_copies() * 2;
  Batch<double> start(rows, 3), x(rows, 3), next(rows, 3), tape(2, stepper->tape_cols(3));
  stepper->initialize(f, 0.3, y0, theta, start);
  x = start;
  double t = 0.3;
  std::vector<double> ts{t};
  for (int n = 0; n < 200; ++n) ts.push_back(t += 0.01 + 0.005 * std::sin(double(n)));
  for (std::size_t n = 1; n < ts.size(); ++n) {
    stepper->step(f, ts[n - 1], ts[n], x, theta, next, tape, nullptr, false);
    x.swap(next);
  }
  for (std::size_t n = ts.size() - 1; n > 0; --n) {
    reversible->reverse_step(f, ts[n - 1], ts[n], x, theta, next);
    x.swap(next);
  }
  EXPECT_LT((x - start).cwiseAbs().maxCoeff() / start.cwiseAbs().maxCoeff(), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryComposition, ::testing::ValuesIn(composition_names()),
                         test_name);

TEST(CompositionRegistry, NamesOrdersAndCosts) {
  EXPECT_EQ(composition_names(),
            (std::vector<std::string>{"alf-yoshida4", "alf-suzuki4", "alf-yoshida6",
                                      "reversible-heun-yoshida4"}));
  const auto check = [](const char* name, int order, int evals) {
    const auto s = make_stepper<float>(name);
    EXPECT_EQ(s->name(), name);
    EXPECT_EQ(s->order(), order) << name;
    EXPECT_EQ(s->evals_per_step(), evals) << name;
    EXPECT_EQ(s->error_order(), 2) << name;
  };
  check("alf-yoshida4", 4, 3);
  check("alf-suzuki4", 4, 5);
  check("alf-yoshida6", 6, 18);
  check("reversible-heun-yoshida4", 4, 3);
  // Intermediate states on the tape: (s − 1) states of 2 blocks (ALF) or 3 (reversible Heun).
  EXPECT_EQ(make_stepper<double>("alf-yoshida4")->tape_cols(5), 2 * 2 * 5);
  EXPECT_EQ(make_stepper<double>("reversible-heun-yoshida4")->tape_cols(1), 2 * 3);
}

TEST(CompositionOptions, ADampedBaseIsAClearError) {
  try {
    make_stepper<double>("alf-yoshida4", {.coupling = 0.999, .damping = 0.8});
    FAIL() << "damped base accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("damping η = 0.8"), std::string::npos) << e.what();
  }
}

TEST(CompositionOptions, AnEstimatePairOutsideTheSchemeIsAClearError) {
  const CompositionScheme bad{"bad", 4, compositions::yoshida4_gamma, 2, ""};
  try {
    Composition<double>(std::make_unique<AsynchronousLeapfrog<double>>(1.0), bad);
    FAIL() << "pair 2 of 3 sub-steps accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("composition 'bad'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Composition<double>(nullptr, compositions::yoshida4), Error);
}

}  // namespace
}  // namespace revode
