// Every reversible solver in the registry: exact inversion over a thousand steps, the fused
// backward hook's tape, convergence at the stated order, adaptive steps, and option checks.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "revode/core/counting_field.hpp"
#include "revode/core/error.hpp"
#include "revode/fields/kepler.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/solvers/reversible/alf.hpp"
#include "revode/solvers/reversible/composition_coefficients.hpp"
#include "revode/solvers/reversible/mccallum_foster.hpp"
#include "revode/solvers/reversible/reversible_heun.hpp"
#include "revode/solvers/tableaux/registry.hpp"
#include "support/test_fields.hpp"

namespace revode {
namespace {

constexpr SolverOptions kOptions{.coupling = 0.999, .damping = 1.0};

/// Every registered solver that is reversible, found through the registry itself.
std::vector<std::string> reversible_solver_names() {
  std::vector<std::string> names;
  for (const auto& name : solver_names())
    if (dynamic_cast<ReversibleStepper<double>*>(make_stepper<double>(name, kOptions).get()))
      names.push_back(name);
  return names;
}

std::unique_ptr<ReversibleStepper<double>> make_reversible(const std::string& name,
                                                           SolverOptions options = kOptions) {
  auto stepper = make_stepper<double>(name, options);
  auto* reversible = dynamic_cast<ReversibleStepper<double>*>(stepper.get());
  EXPECT_NE(reversible, nullptr) << name;
  stepper.release();
  return std::unique_ptr<ReversibleStepper<double>>(reversible);
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  if (s.starts_with("reversible:")) s = "McCallumFoster_" + s.substr(11);  // ≠ reversible-heun
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

/// max |a − b| / max |b|.
double max_relative(const Batch<double>& a, const Batch<double>& b) {
  return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff();
}

/// Steps `steps` times over [0, 1] with an MLP field, then undoes every step; returns the
/// relative distance between the rebuilt and the initial solver state.
double round_trip_error(const ReversibleStepper<double>& stepper, Index steps) {
  const Mlp<double> f(parse_mlp_spec("2,16,16,2"));
  const Vector<double> theta = f.init_params(Init::pytorch_default, 3);
  Batch<double> y0(2, 3);
  y0 << 1.0, -0.5, 0.3, 0.2, 0.8, -1.1;
  const Index rows = stepper.state_copies() * 2;
  Batch<double> start(rows, 3), x(rows, 3), next(rows, 3), tape(2, stepper.tape_cols(3));
  stepper.initialize(f, 0.0, y0, theta, start);
  x = start;
  const double h = 1.0 / double(steps);
  for (Index n = 0; n < steps; ++n) {
    stepper.step(f, double(n) * h, double(n + 1) * h, x, theta, next, tape, nullptr, false);
    x.swap(next);
  }
  for (Index n = steps - 1; n >= 0; --n) {
    stepper.reverse_step(f, double(n) * h, double(n + 1) * h, x, theta, next);
    x.swap(next);
  }
  return max_relative(x, start);
}

class EveryReversibleSolver : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryReversibleSolver, AThousandStepsForwardThenBackRebuildTheStart) {
  const auto stepper = make_reversible(GetParam());
  const double error = round_trip_error(*stepper, 1000);
  RecordProperty("round_trip_error", fmt::format("{:.3e}", error));
  // λ = 0.999 amplifies round-off by about e per 1000 steps; the others by O(1).
  EXPECT_LT(error, 1e-11) << GetParam();
}

TEST_P(EveryReversibleSolver, FusedReverseWritesTheForwardTape) {
  const auto stepper = make_reversible(GetParam());
  const Mlp<double> f(parse_mlp_spec("2,8,2"));
  const Vector<double> theta = f.init_params(Init::glorot, 5);
  Batch<double> y0(2, 2);
  y0 << 0.4, -0.3, 1.2, 0.7;
  const Index rows = stepper->state_copies() * 2, cols = stepper->tape_cols(2);
  Batch<double> x0(rows, 2), x1(rows, 2), back(rows, 2);
  // Zeroed alike: an FSAL base's trailing stage slot is never written (step_unchained).
  Batch<double> tape = Batch<double>::Zero(2, cols), tape_back = tape;
  stepper->initialize(f, 0.1, y0, theta, x0);
  stepper->step(f, 0.1, 0.35, x0, theta, x1, tape, nullptr, false);
  stepper->reverse_step_with_tape(f, 0.1, 0.35, x1, theta, back, tape_back);
  EXPECT_LT(max_relative(back, x0), 1e-14);
  if (cols > 0) {
    EXPECT_LT(max_relative(tape_back, tape), 1e-14);
  }
}

// McCallum–Foster at batch 1 runs its base steps through the base's column path; a column's
// step, fused reverse step (state and tape) and VJP must be the batched ones' bit for bit (the
// batched VJP gets a cotangent in column c only, so its θ̄ sums that column alone).
TEST_P(EveryReversibleSolver, BatchOneGivesTheBatchedBits) {
  if (!GetParam().starts_with("reversible:")) GTEST_SKIP() << "McCallum–Foster's column path";
  const auto stepper = make_reversible(GetParam());
  const testing::ColumnwiseField f;
  Vector<double> theta(3);
  theta << 0.7, -0.4, 0.3;
  Batch<double> y0(2, 3);
  y0 << 1.0, -0.5, 0.3, 0.2, 0.8, -1.1;
  const double t0 = 0.2, t1 = 0.45;
  const Index cols = stepper->tape_cols(3), cols_c = stepper->tape_cols(1);
  const bool estimate = stepper->error_order() > 0;
  Batch<double> x0(4, 3), x1(4, 3), back(4, 3), error(2, 3);
  Batch<double> tape = Batch<double>::Zero(2, cols), tape_back = tape;
  stepper->initialize(f, t0, y0, theta, x0);
  stepper->step(f, t0, t1, x0, theta, x1, tape, estimate ? &error : nullptr, false);
  stepper->reverse_step_with_tape(f, t0, t1, x1, theta, back, tape_back);
  ASSERT_EQ(f.column_evals, 0) << "the batched step took the column path";
  for (Index c = 0; c < 3; ++c) {
    Batch<double> x1_c(4, 1), back_c(4, 1), error_c(2, 1);
    Batch<double> tape_c = Batch<double>::Zero(2, cols_c), tape_back_c = tape_c;
    stepper->step(f, t0, t1, x0.col(c), theta, x1_c, tape_c, estimate ? &error_c : nullptr,
                  false);
    stepper->reverse_step_with_tape(f, t0, t1, x1_c, theta, back_c, tape_back_c);
    EXPECT_EQ(x1_c, x1.col(c)) << "column " << c;
    EXPECT_EQ(back_c, back.col(c)) << "column " << c;
    if (estimate) {
      EXPECT_EQ(error_c, error.col(c)) << "column " << c;
    }
    for (Index k = 0; k < cols_c; ++k) {  // the tape's blocks are `batch` columns each
      EXPECT_EQ(tape_c.col(k), tape.col(k * 3 + c)) << "tape column " << k;
      EXPECT_EQ(tape_back_c.col(k), tape_back.col(k * 3 + c)) << "tape column " << k;
    }
    Batch<double> x1_bar = Batch<double>::Zero(4, 3), x0_bar(4, 3), x0_bar_c(4, 1);
    x1_bar.col(c) << 0.6, -1.3, 0.25, 0.9;
    Vector<double> theta_bar = Vector<double>::Zero(3), theta_bar_c = theta_bar;
    stepper->step_vjp(f, t0, t1, x0, theta, tape, x1_bar, x0_bar, theta_bar);
    stepper->step_vjp(f, t0, t1, x0.col(c), theta, tape_c, x1_bar.col(c), x0_bar_c,
                      theta_bar_c);
    EXPECT_EQ(x0_bar_c, x0_bar.col(c)) << "column " << c;
    EXPECT_EQ(theta_bar_c, theta_bar) << "column " << c;
  }
  EXPECT_GT(f.column_evals, 0);
  EXPECT_GT(f.column_vjps, 0);
  // The base steps write through raw pointers: a mis-shaped tape is a clear error.
  Batch<double> x1_c(4, 1), back_c(4, 1), short_tape(1, cols_c), narrow_tape(2, cols_c - 1);
  EXPECT_THROW(stepper->step(f, t0, t1, x0.col(0), theta, x1_c, short_tape, nullptr, false),
               Error);
  EXPECT_THROW(stepper->step(f, t0, t1, x0.col(0), theta, x1_c, narrow_tape, nullptr, false),
               Error);
  EXPECT_THROW(stepper->reverse_step_with_tape(f, t0, t1, x1.col(0), theta, back_c, short_tape),
               Error);
  Vector<double> theta_bar(3);
  EXPECT_THROW(stepper->step_vjp(f, t0, t1, x0.col(0), theta, short_tape, x1.col(0), back_c,
                                 theta_bar),
               Error);
}

// An FSAL base's trailing stage feeds only an error estimate or a next base step, and
// McCallum–Foster chains neither, so its base steps skip it unless an error is asked for.
TEST(McCallumFosterCost, BaseStepsSkipTheUnusedFsalStage) {
  const Mlp<double> mlp(parse_mlp_spec("2,8,2"));
  const CountingField<double> f(mlp);
  const Vector<double> theta = mlp.init_params(Init::glorot, 5);
  Batch<double> y0(2, 1);
  y0 << 0.4, -0.3;
  for (const auto& [base, evals] : {std::pair{"dopri5", 12}, {"bosh3", 6}, {"rk4", 8}}) {
    const auto stepper = make_reversible(std::string("reversible:") + base);
    EXPECT_EQ(stepper->evals_per_step(), evals) << base;
    Batch<double> x0(4, 1), x1(4, 1), back(4, 1), tape(2, stepper->tape_cols(1));
    Batch<double> error;
    stepper->initialize(f, 0.0, y0, theta, x0);
    const Index before = f.nfe();
    stepper->step(f, 0.0, 0.1, x0, theta, x1, tape, nullptr, false);
    EXPECT_EQ(f.nfe() - before, evals) << base;
    stepper->step(f, 0.0, 0.1, x0, theta, x1, tape, &error, false);
    EXPECT_EQ(f.nfe() - before, 2 * evals + (std::string(base) == "rk4" ? 0 : 1)) << base;
    stepper->reverse_step(f, 0.0, 0.1, x1, theta, back);
    EXPECT_EQ(f.nfe() - before, 3 * evals + (std::string(base) == "rk4" ? 0 : 1)) << base;
    EXPECT_LT(max_relative(back, x0), 1e-14) << base;

    // The skipped stage's slot is never read: NaN left in it reaches neither the step nor
    // its VJP, which agree bit for bit with a run on a zeroed tape.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    Batch<double> x1_nan(4, 1), x1_zero(4, 1), bar_nan(4, 1), bar_zero(4, 1);
    Batch<double> tape_nan = Batch<double>::Constant(2, stepper->tape_cols(1), nan);
    Batch<double> tape_zero = Batch<double>::Zero(2, stepper->tape_cols(1));
    Vector<double> theta_bar_nan = Vector<double>::Zero(theta.size()), theta_bar_zero = theta_bar_nan;
    const Batch<double> x1_bar = Batch<double>::Ones(4, 1);
    stepper->step(f, 0.0, 0.1, x0, theta, x1_nan, tape_nan, nullptr, false);
    stepper->step(f, 0.0, 0.1, x0, theta, x1_zero, tape_zero, nullptr, false);
    stepper->step_vjp(f, 0.0, 0.1, x0, theta, tape_nan, x1_bar, bar_nan, theta_bar_nan);
    stepper->step_vjp(f, 0.0, 0.1, x0, theta, tape_zero, x1_bar, bar_zero, theta_bar_zero);
    EXPECT_EQ(x1_nan, x1_zero) << base;
    EXPECT_EQ(bar_nan, bar_zero) << base;
    EXPECT_EQ(theta_bar_nan, theta_bar_zero) << base;
    EXPECT_TRUE(bar_nan.allFinite() && theta_bar_nan.allFinite()) << base;
  }
}

/// The Kepler orbit of eccentricity e (GM = 1, semi-major axis 1) from perihelion, exact
/// through Kepler's equation (as in explicit_rk_test.cpp).
Vector<double> kepler_orbit(double t, double e) {
  double big_e = t;
  for (int i = 0; i < 50; ++i)
    big_e -= (big_e - e * std::sin(big_e) - t) / (1 - e * std::cos(big_e));
  const double d = 1 - e * std::cos(big_e), s = std::sqrt(1 - e * e);
  Vector<double> y(4);
  y << std::cos(big_e) - e, s * std::sin(big_e), -std::sin(big_e) / d, s * std::cos(big_e) / d;
  return y;
}

/// Least-squares slope of log(final error) against log(h) over n0, 2n0, 4n0, 8n0 steps.
double fitted_order(const Stepper<double>& stepper, Index n0) {
  KeplerField<double> f;
  const Vector<double> theta = f.default_params();
  const Batch<double> y0 = kepler_orbit(0.0, 0.3);
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const int m = 4;
  for (int i = 0; i < m; ++i) {
    const Index n = n0 << i;
    const auto sol =
        solve<double>(f, stepper, FixedSteps{n}, SaveAt::final_time(3.0), 0.0, 3.0, y0, theta);
    const double x = std::log(1.0 / double(n));
    const double y = std::log((sol.ys.back().col(0) - kepler_orbit(3.0, 0.3)).norm());
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

TEST_P(EveryReversibleSolver, ConvergesAtTheStatedOrder) {
  // Why λ = 1 − 1e-6 here: for an odd-order base, Φ_h and the inverse of Φ_{−h} make local
  // errors of opposite sign in Y and Z, and the Y − Z mode decays like λ^n. The error constant
  // of Y therefore changes sign as n(1 − λ) passes O(1), i.e. around n = 1000 steps for
  // λ = 0.999: the error is O(h^p) on both sides of that transition, but a fit straddling it
  // reads too high an order. With λ → 1 the transition is far beyond the fitted step counts.
  // Even orders have no such cancellation and are also fitted at the usual λ = 0.999.
  const auto stepper = make_reversible(GetParam(), {.coupling = 1.0 - 1e-6, .damping = 1.0});
  const int order = stepper->order();
  // Order 6 starts lower: its error at 512 steps nears round-off.
  const Index n0 = order == 1 ? 256 : order >= 6 ? 32 : 64;
  const double slope = fitted_order(*stepper, n0);
  RecordProperty("fitted_order", fmt::format("{:.3e}", slope));
  EXPECT_NEAR(slope, order, 0.2) << GetParam();
  if (order % 2 == 0) {
    EXPECT_NEAR(fitted_order(*make_reversible(GetParam()), n0), order, 0.2);
  }
}

TEST_P(EveryReversibleSolver, AdaptiveStepsConvergeWithTheTolerance) {
  const auto stepper = make_reversible(GetParam());
  if (stepper->error_order() == 0) GTEST_SKIP() << "no error estimate";
  KeplerField<double> f;
  const Vector<double> theta = f.default_params();
  const Batch<double> y0 = kepler_circular_orbit<double>(0.0);
  double previous = INFINITY;
  for (double tol : {1e-4, 1e-6}) {
    const auto sol = solve<double>(f, *stepper, AdaptiveSteps{.rtol = tol, .atol = tol},
                                   SaveAt::final_time(3.0), 0.0, 3.0, y0, theta);
    const double error = (sol.ys.back().col(0) - kepler_circular_orbit<double>(3.0)).norm();
    EXPECT_LT(error, previous / 4) << "tol " << tol;
    previous = error;
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryReversibleSolver,
                         ::testing::ValuesIn(reversible_solver_names()), test_name);

TEST(ReversibleRegistry, ListsMcCallumFosterOverEveryTableauAndTheNativeSolvers) {
  const auto names = reversible_solver_names();
  // + reversible Heun, ALF, every composition over ALF and the triple jump over reversible Heun.
  EXPECT_EQ(names.size(), builtin_tableaux.size() + 2 + compositions::builtin.size() + 1);
  for (const ButcherTableau* t : builtin_tableaux) {
    const auto s = make_stepper<double>("reversible:" + std::string(t->name));
    EXPECT_EQ(s->name(), "reversible:" + std::string(t->name));
    EXPECT_EQ(s->order(), t->order);
    EXPECT_EQ(s->error_order(), t->embedded_order);
  }
  EXPECT_EQ(make_stepper<float>("reversible-heun")->name(), "reversible-heun");
  EXPECT_EQ(make_stepper<float>("alf")->name(), "alf");
  EXPECT_THROW(make_stepper<double>("reversible:nope"), Error);
}

TEST(AlfDamping, DampedStepsStillInvertExactlyOverAFewSteps) {
  // The damped inverse amplifies v's round-off by 1/|1 − 2η| per step, so only a short trip
  // stays exact: here (1/0.6)^20 ≈ 3e4 times round-off.
  const AsynchronousLeapfrog<double> alf(0.8);
  EXPECT_EQ(alf.order(), 1);
  EXPECT_LT(round_trip_error(alf, 20), 1e-10);
}

TEST(ReversibleOptions, CouplingOutsideTheUnitIntervalIsAClearError) {
  for (double coupling : {0.0, -0.5, 1.5, double(NAN)}) {
    try {
      McCallumFoster<double>(tableaux::rk4, coupling);
      FAIL() << coupling;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("coupling λ"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(McCallumFoster<double>(tableaux::rk4, 1.0));
  EXPECT_THROW(make_stepper<double>("reversible:rk4", {.coupling = 2.0}), Error);
}

TEST(ReversibleOptions, DampingOutsideTheUnitIntervalOrOneHalfIsAClearError) {
  for (double damping : {0.0, -1.0, 1.01, 0.5, double(NAN)}) {
    try {
      AsynchronousLeapfrog<double> alf(damping);
      FAIL() << damping;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("damping η"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(make_stepper<double>("alf", {.damping = 0.0}), Error);
  EXPECT_NO_THROW(make_stepper<double>("alf", {.damping = 0.25}));
}

}  // namespace
}  // namespace revode
