// The integration loop: save-at (landing exactly, dense output, every step), backward-in-time
// solves, batches, statistics, and every bad-input and failure path.
#include <gtest/gtest.h>

#include <cmath>

#include "revode/core/status.hpp"
#include "revode/fields/kepler.hpp"
#include "revode/fields/linear.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/solvers/tableaux/registry.hpp"
#include "support/test_fields.hpp"
#include "support/error_of.hpp"

namespace revode {
namespace {

using testing::error_of;

struct LinearProblem {
  LinearField<double> f{2};
  Vector<double> theta = f.default_params();
  Batch<double> y0 = (Batch<double>(2, 1) << 1.0, 0.5).finished();
  Vector<double> exact(double t) const {
    const Eigen::Map<const Batch<double>> a(theta.data(), 2, 2);
    return linear_exact_solution<double>(a, y0.col(0), t);
  }
};

TEST(SaveAt, FixedGridLandsExactlyOnSaveTimesBetweenGridPoints) {
  LinearProblem p;
  ExplicitRK<double> rk(tableaux::rk4);
  SaveAt save{{0.0, 0.25, 0.5, 1.0}};
  // 2 grid steps on [0, 1]: 0.25 splits the first interval.
  const auto sol = solve<double>(p.f, rk, FixedSteps{2}, save, 0.0, 1.0, p.y0, p.theta);
  ASSERT_EQ(sol.ts.size(), 4u);
  EXPECT_EQ(sol.stats.steps, 3);
  EXPECT_EQ(sol.ts[1], 0.25);
  EXPECT_EQ(sol.ys[0], p.y0);
  EXPECT_LT((sol.ys[1].col(0) - p.exact(0.25)).norm(), 1e-3);
}

TEST(SaveAt, DenseOutputIsThirdOrderAccurateInside) {
  LinearProblem p;
  ExplicitRK<double> rk(tableaux::rk4);
  SaveAt save = SaveAt::linspace(0.0, 1.0, 7);
  save.dense = true;
  double previous = INFINITY;
  for (Index n : {4, 8, 16}) {
    const auto sol = solve<double>(p.f, rk, FixedSteps{n}, save, 0.0, 1.0, p.y0, p.theta);
    EXPECT_EQ(sol.stats.steps, n);  // no extra steps: dense output
    double error = 0;
    for (std::size_t k = 0; k < sol.ts.size(); ++k)
      error = std::max(error, (sol.ys[k].col(0) - p.exact(sol.ts[k])).norm());
    if (std::isfinite(previous)) {
      EXPECT_GT(previous / error, 6.0);  // ≥ order 3 (ratio 8)
    }
    previous = error;
  }
}

TEST(SaveAt, EveryStepSavesInitialStateAndEachEndpoint) {
  LinearProblem p;
  ExplicitRK<double> rk(tableaux::bosh3);
  const auto sol = solve<double>(p.f, rk, AdaptiveSteps{.rtol = 1e-6, .atol = 1e-9},
                                 SaveAt::every_step(), 0.0, 2.0, p.y0, p.theta);
  EXPECT_EQ(Index(sol.ts.size()), sol.stats.steps + 1);
  EXPECT_EQ(sol.ts.front(), 0.0);
  EXPECT_EQ(sol.ts.back(), 2.0);
}

TEST(SaveAt, AdaptiveStepsLandOnSaveTimes) {
  LinearProblem p;
  ExplicitRK<double> rk(tableaux::dopri5);
  const SaveAt save = SaveAt::linspace(0.0, 2.0, 11);
  const auto sol = solve<double>(p.f, rk, AdaptiveSteps{.rtol = 1e-8, .atol = 1e-10}, save, 0.0,
                                 2.0, p.y0, p.theta);
  ASSERT_EQ(sol.ts, save.ts);
  for (std::size_t k = 0; k < sol.ts.size(); ++k)
    EXPECT_LT((sol.ys[k].col(0) - p.exact(sol.ts[k])).norm(), 1e-6);
}

TEST(Integrate, BackwardInTimeSolveMatchesExactSolution) {
  LinearProblem p;
  ExplicitRK<double> rk(tableaux::tsit5);
  const Batch<double> y1 = p.exact(1.0);
  const auto sol = solve<double>(p.f, rk, AdaptiveSteps{.rtol = 1e-10, .atol = 1e-12},
                                 SaveAt{{1.0, 0.5, 0.0}}, 1.0, 0.0, y1, p.theta);
  EXPECT_LT((sol.ys.back().col(0) - p.y0.col(0)).norm(), 1e-8);
  EXPECT_THROW((solve<double>(p.f, rk, FixedSteps{4}, SaveAt{{0.0, 0.5}}, 1.0, 0.0, y1, p.theta)),
               Error);  // increasing save times on a decreasing solve
}

TEST(Integrate, BatchColumnsAreIndependentSolvesOnAFixedGrid) {
  KeplerField<double> f;
  const Vector<double> theta = f.default_params();
  Batch<double> y0(4, 3);
  y0 << 1, 0.9, 1.1, 0, 0.1, 0, 0, 0.1, -0.2, 1, 1.1, 0.9;
  ExplicitRK<double> rk(tableaux::rk4);
  const auto batch = solve<double>(f, rk, FixedSteps{50}, SaveAt::final_time(2.0), 0.0, 2.0, y0, theta);
  for (Index j = 0; j < 3; ++j) {
    const auto one = solve<double>(f, rk, FixedSteps{50}, SaveAt::final_time(2.0), 0.0, 2.0,
                                   y0.col(j), theta);
    EXPECT_EQ(one.ys.back().col(0), batch.ys.back().col(j));
  }
  EXPECT_EQ(batch.stats.nfe, 50 * 4);
}

TEST(Integrate, FsalSavesOneEvaluationPerAcceptedStep) {
  LinearProblem p;
  ExplicitRK<double> rk(tableaux::dopri5);
  const auto sol = solve<double>(p.f, rk, FixedSteps{10}, SaveAt::final_time(1.0), 0.0, 1.0,
                                 p.y0, p.theta);
  EXPECT_EQ(sol.stats.nfe, 1 + 10 * 6);
}

// ---- bad input ------------------------------------------------------------------------------

TEST(BadInput, EachIsAClearError) {
  LinearProblem p;
  ExplicitRK<double> rk(tableaux::rk4);
  ExplicitRK<double> dopri(tableaux::dopri5);
  auto run = [&](const StepControl& c, const SaveAt& s, const Batch<double>& y0,
                 const Vector<double>& theta, double t0 = 0.0, double t1 = 1.0,
                 const Stepper<double>* stepper = nullptr) {
    return error_of([&] { solve<double>(p.f, stepper ? *stepper : rk, c, s, t0, t1, y0, theta); }, "no error");
  };
  const SaveAt fin = SaveAt::final_time(1.0);
  EXPECT_NE(run(FixedSteps{4}, fin, Batch<double>::Ones(3, 1), p.theta).find("y0 has 3 rows"), std::string::npos);
  Batch<double> nan_y0 = p.y0;
  nan_y0(1, 0) = NAN;
  EXPECT_NE(run(FixedSteps{4}, fin, nan_y0, p.theta).find("y0 contains NaN"), std::string::npos);
  EXPECT_NE(run(FixedSteps{4}, fin, p.y0, Vector<double>::Ones(3)).find("parameter vector has 3"), std::string::npos);
  Vector<double> inf_theta = p.theta;
  inf_theta[0] = INFINITY;
  EXPECT_NE(run(FixedSteps{4}, fin, p.y0, inf_theta).find("parameters contain NaN"), std::string::npos);
  EXPECT_NE(run(FixedSteps{4}, SaveAt{{0.5, 0.25}}, p.y0, p.theta).find("strictly increasing"), std::string::npos);
  EXPECT_NE(run(FixedSteps{4}, SaveAt{{0.5, 2.0}}, p.y0, p.theta).find("outside [t0, t1]"), std::string::npos);
  EXPECT_NE(run(FixedSteps{0}, fin, p.y0, p.theta).find("exactly one of steps"), std::string::npos);
  EXPECT_NE(run(AdaptiveSteps{.rtol = 0}, fin, p.y0, p.theta, 0, 1, &dopri).find("rtol = 0; required: rtol > 0"), std::string::npos);
  EXPECT_NE(run(AdaptiveSteps{.atol = -1}, fin, p.y0, p.theta, 0, 1, &dopri).find("atol = -1"), std::string::npos);
  EXPECT_NE(run(AdaptiveSteps{}, fin, p.y0, p.theta).find("no embedded error estimate"), std::string::npos);
  EXPECT_NE(run(FixedSteps{4}, fin, p.y0, p.theta, 1.0, 1.0).find("t0 != t1"), std::string::npos);
}

TEST(Failures, NonFiniteStateReportsTimeReached) {
  testing::BlowUpField f;
  const Vector<double> theta = Vector<double>::Ones(1);
  const Batch<double> y0 = Batch<double>::Ones(1, 1);
  ExplicitRK<double> rk(tableaux::euler);
  try {
    solve<double>(f, rk, FixedSteps{2000}, SaveAt::final_time(3.0), 0.0, 3.0, y0, theta);
    FAIL() << "no error";
  } catch (const SolveError& e) {
    EXPECT_EQ(e.status(), Status::non_finite_state);
    EXPECT_GT(e.t_reached(), 0.9);
    EXPECT_NE(std::string(e.what()).find("NaN or Inf"), std::string::npos);
  }
}

TEST(Failures, StepSizeUnderflowAndMaxSteps) {
  testing::BlowUpField f;
  const Vector<double> theta = Vector<double>::Ones(1);
  const Batch<double> y0 = Batch<double>::Ones(1, 1);
  ExplicitRK<double> rk(tableaux::bosh3);
  try {
    solve<double>(f, rk, AdaptiveSteps{.dtmin = 1e-6, .max_steps = 1000000}, SaveAt::final_time(2.0), 0.0, 2.0, y0, theta);
    FAIL() << "no error";
  } catch (const SolveError& e) {
    EXPECT_EQ(e.status(), Status::step_size_underflow);
    EXPECT_NEAR(e.t_reached(), 1.0, 0.01);  // the singularity
  }
  try {
    solve<double>(f, rk, AdaptiveSteps{.max_steps = 20}, SaveAt::final_time(2.0), 0.0, 2.0, y0, theta);
    FAIL() << "no error";
  } catch (const SolveError& e) {
    EXPECT_EQ(e.status(), Status::max_steps_reached);
    EXPECT_NE(std::string(e.what()).find("max_steps = 20"), std::string::npos);
  }
}

TEST(Failures, NonFiniteFieldAtTheStartIsReportedAsSuchInAdaptiveSolves) {
  KeplerField<double> f;  // singular at q = 0
  const Vector<double> theta = f.default_params();
  const Batch<double> y0 = (Batch<double>(4, 1) << 0.0, 0.0, 1.0, 1.0).finished();
  ExplicitRK<double> rk(tableaux::dopri5);
  try {
    solve<double>(f, rk, AdaptiveSteps{}, SaveAt::final_time(1.0), 0.0, 1.0, y0, theta);
    FAIL() << "no error";
  } catch (const SolveError& e) {
    EXPECT_EQ(e.status(), Status::non_finite_state);
    EXPECT_EQ(e.t_reached(), 0.0);
  }
}

TEST(BadInput, TimeSpanAndStepCountMustBeRepresentable) {
  LinearProblem p;
  ExplicitRK<double> rk(tableaux::rk4);
  EXPECT_THROW((solve<double>(p.f, rk, FixedSteps{4}, SaveAt::final_time(1e308), -1e308, 1e308,
                              p.y0, p.theta)),
               Error);
  EXPECT_THROW((solve<double>(p.f, rk, FixedSteps{.dt = 1e-300}, SaveAt::final_time(1.0), 0.0,
                              1.0, p.y0, p.theta)),
               Error);
}

}  // namespace
}  // namespace revode
