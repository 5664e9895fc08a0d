// Dense output's end slopes: f(ta, y0) and f(tb, y1) of a step with dense saves are taken from
// the step's tape (Stepper::start_derivative / end_derivative) or from the neighbouring step
// when they are at the same bits, instead of evaluated. The saves must be exactly the Hermite
// interpolant of the step ends with f evaluated there, and the evaluations saved must show in
// the counts; every gradient method must still match direct backprop.
#include <gtest/gtest.h>

#include <string_view>

#include "revode/gradients/direct_backprop.hpp"
#include "revode/gradients/loss.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/solvers/registry.hpp"
#include "support/finite_difference.hpp"

namespace revode {
namespace {

using testing::relative_error;

constexpr SolverOptions kOptions{.coupling = 0.999, .damping = 1.0};
constexpr Index kSteps = 40;

struct Problem {
  Mlp<double> f{parse_mlp_spec("2,10,2", Activation::tanh, /*time_input=*/true)};
  Vector<double> theta = f.init_params(Init::pytorch_default, 5);
  Batch<double> y0 = (Batch<double>(2, 3) << 0.4, -0.2, 1.1, 0.7, 0.1, -0.9).finished();
  /// One save inside every step of the kSteps-step grid on [0, 1], reached by dense output.
  static SaveAt inside_every_step() {
    SaveAt save;
    for (Index n = 0; n < kSteps; ++n) save.ts.push_back((double(n) + 0.3) / double(kSteps));
    save.dense = true;
    return save;
  }
};

class DenseEndSlopes : public ::testing::TestWithParam<const char*> {};

TEST_P(DenseEndSlopes, SavesAreTheHermiteInterpolantOfEvaluatedEndSlopes) {
  const Problem p;
  const auto stepper = make_stepper<double>(GetParam(), kOptions);
  const SaveAt save = Problem::inside_every_step();
  const auto dense =
      solve<double>(p.f, *stepper, FixedSteps{kSteps}, save, 0.0, 1.0, p.y0, p.theta);
  const auto ends = solve<double>(p.f, *stepper, FixedSteps{kSteps}, SaveAt::every_step(), 0.0, 1.0,
                                  p.y0, p.theta);
  ASSERT_EQ(Index(ends.ts.size()), kSteps + 1);
  ASSERT_EQ(dense.ts.size(), save.ts.size());
  Batch<double> f0(2, 3), f1(2, 3), expected(2, 3);
  for (Index n = 0; n < kSteps; ++n) {
    const double ta = ends.ts[std::size_t(n)], tb = ends.ts[std::size_t(n + 1)];
    p.f.eval(ta, ends.ys[std::size_t(n)], p.theta, f0);
    p.f.eval(tb, ends.ys[std::size_t(n + 1)], p.theta, f1);
    hermite_interpolate<double>((save.ts[std::size_t(n)] - ta) / (tb - ta), tb - ta,
                                ends.ys[std::size_t(n)], f0, ends.ys[std::size_t(n + 1)], f1,
                                expected);
    // Bit for bit: a slope taken from a tape or a neighbour is f at exactly those bits.
    EXPECT_TRUE((dense.ys[std::size_t(n)].array() == expected.array()).all()) << "save " << n;
  }
}

TEST_P(DenseEndSlopes, EveryGradientMethodMatchesBackprop) {
  const Problem p;
  const auto stepper = make_stepper<double>(GetParam(), kOptions);
  MseZero<double> loss;
  const GradientProblem<double> problem{
      p.f,     *stepper, FixedSteps{kSteps}, Problem::inside_every_step(), 0.0, 1.0, p.y0,
      p.theta, loss};
  const auto reference = DirectBackprop<double>().compute(problem);
  const std::string_view solver = GetParam();
  const bool explicit_rk = solver == "rk4" || solver == "dopri5";
  for (const char* method : {"checkpoint:4", "symplectic", "anode", "reversible"}) {
    const std::string_view name = method;
    if (name == "symplectic" && !explicit_rk) continue;  // it needs an RK tableau
    if (name == "reversible" && explicit_rk) continue;   // it needs a reversible solver
    const auto r = make_gradient_method<double>(method)->compute(problem);
    EXPECT_LE(relative_error(r.grad_params, reference.grad_params), 1e-10) << method;
    EXPECT_LE(relative_error(r.grad_y0, reference.grad_y0), 1e-10) << method;
    EXPECT_NEAR(r.loss, reference.loss, 1e-14 * reference.loss) << method;
  }
}

INSTANTIATE_TEST_SUITE_P(Solvers, DenseEndSlopes,
                         ::testing::Values("reversible:midpoint", "reversible:rk4", "rk4", "dopri5",
                                           "reversible-heun", "alf"));

// McCallum–Foster keeps f(t1, Y1) on its tape (the reverse base step's first stage), and each
// step's start slope is the last step's end slope: the forward solve evaluates only its own
// stages (2 base midpoint steps, 4 evaluations) plus the very first start slope. Backwards,
// each step's end slope comes from the tape the reverse step rebuilds; its start slope is
// evaluated (one more per step).
TEST(DenseEndSlopes, McCallumFosterTakesBothSlopesFromTapes) {
  const Problem p;
  const auto stepper = make_stepper<double>("reversible:midpoint", kOptions);
  const SaveAt save = Problem::inside_every_step();
  const auto sol = solve<double>(p.f, *stepper, FixedSteps{kSteps}, save, 0.0, 1.0, p.y0, p.theta);
  EXPECT_EQ(sol.stats.nfe, 4 * kSteps + 1);  // was 6 · kSteps
  MseZero<double> loss;
  const GradientProblem<double> problem{p.f,     *stepper, FixedSteps{kSteps}, save, 0.0, 1.0, p.y0,
                                        p.theta, loss};
  const auto r = make_gradient_method<double>("reversible")->compute(problem);
  // Forward 4N + 1; backward 4N to rebuild the steps (the base steps' VJPs take their stages
  // from the rebuilt tapes) and N start slopes.
  EXPECT_EQ(r.stats.nfe, 9 * kSteps + 1);  // was 12 · kSteps
}

}  // namespace
}  // namespace revode
