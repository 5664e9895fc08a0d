// Reversible backprop through the symmetric compositions (reversible/composition.hpp): the same
// gradient as direct backprop through the same composite solver (fixed and adaptive steps,
// batch 1 and 4, an MLP field), and central finite differences with dense saves.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "revode/core/counting_field.hpp"
#include "revode/gradients/direct_backprop.hpp"
#include "revode/gradients/reversible_backprop.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/registry.hpp"
#include "support/finite_difference.hpp"
#include "support/solver_cases.hpp"

namespace revode {
namespace {

using testing::central_differences;
using testing::relative_error;

using Case = testing::SolverCase;

std::vector<Case> every_case() {
  std::vector<Case> cases;
  for (const char* solver :
       {"alf-yoshida4", "alf-suzuki4", "alf-yoshida6", "reversible-heun-yoshida4"})
    for (bool adaptive : {false, true})
      for (Index batch : {1, 4}) cases.push_back({solver, adaptive, batch});
  return cases;
}

Batch<double> initial_states(Index batch) {
  Batch<double> y0(2, batch);
  for (Index j = 0; j < batch; ++j) y0.col(j) << 1.0 - 0.3 * double(j), 0.25 * double(j) - 0.5;
  return y0;
}

class CompositionGradients : public ::testing::TestWithParam<Case> {};

TEST_P(CompositionGradients, ReversibleMatchesDirectBackprop) {
  const Case& c = GetParam();
  // A time-dependent field, so the sub-step times enter the VJPs as well.
  const Mlp<double> f(parse_mlp_spec("2,16,16,2", Activation::tanh, /*time_input=*/true));
  const Vector<double> theta = f.init_params(Init::pytorch_default, 21);
  const Batch<double> y0 = initial_states(c.batch);
  const auto stepper = make_stepper<double>(c.solver);
  const StepControl control = c.adaptive ? StepControl(AdaptiveSteps{.rtol = 1e-7, .atol = 1e-9})
                                         : StepControl(FixedSteps{200});
  const SaveAt save = c.batch == 1 ? SaveAt::linspace(0.0, 2.0, 6) : SaveAt::every_step();
  MseZero<double> loss;
  const GradientProblem<double> p{f, *stepper, control, save, 0.0, 2.0, y0, theta, loss};
  const auto reference = DirectBackprop<double>().compute(p);
  const auto r = ReversibleBackprop<double>().compute(p);
  const double e_theta = relative_error(r.grad_params, reference.grad_params);
  const double e_y0 = relative_error(r.grad_y0, reference.grad_y0);
  RecordProperty("grad_params_rel_error", fmt::format("{:.3e}", e_theta));
  RecordProperty("grad_y0_rel_error", fmt::format("{:.3e}", e_y0));
  RecordProperty("steps", fmt::format("{}", r.stats.steps));
  EXPECT_LE(e_theta, 1e-10);  // measured ≤ 3e-15
  EXPECT_LE(e_y0, 1e-10);
  EXPECT_NEAR(r.loss, reference.loss, 1e-13 * std::abs(reference.loss));
  EXPECT_EQ(r.stats.steps, reference.stats.steps);
  // The guard's check rebuilds x_0 = initialize(y0) (ALF's v_0 = f(t0, y0): one evaluation).
  CountingField<double> counted(f);
  Batch<double> x0(stepper->state_copies() * 2, y0.cols());
  stepper->initialize(counted, 0.0, y0, theta, x0);
  const Index check_evals = counted.nfe();
  EXPECT_EQ(r.stats.nfe - reference.stats.nfe,
            r.stats.steps * stepper->evals_per_step() + check_evals)
      << "the backward walk inverts each step with the step's own evaluations";
  EXPECT_LT(r.stats.reconstruction_error, 1e-12);
  EXPECT_LT(r.stats.stored_floats, reference.stats.stored_floats);
  EXPECT_FALSE(r.stats.guard.repaired);  // well conditioned: no anchors
  EXPECT_EQ(r.stats.guard.anchors, 0);
}

INSTANTIATE_TEST_SUITE_P(Compositions, CompositionGradients, ::testing::ValuesIn(every_case()),
                         testing::solver_case_name);

TEST(CompositionGradients, MatchFiniteDifferencesWithDenseSaves) {
  const Mlp<double> f(parse_mlp_spec("2,6,2"));
  const Vector<double> theta = f.init_params(Init::glorot, 8);
  const Batch<double> y0 = initial_states(2);
  SaveAt save = SaveAt::linspace(0.0, 1.0, 4);  // 1/3 and 2/3 fall inside steps
  save.dense = true;
  MseZero<double> loss;
  for (const char* name : {"alf-yoshida4", "alf-yoshida6"}) {
    const auto stepper = make_stepper<double>(name);
    const GradientProblem<double> p{f, *stepper, FixedSteps{10}, save, 0.0, 1.0, y0, theta, loss};
    const auto r = ReversibleBackprop<double>().compute(p);
    const auto fd = central_differences(p);
    EXPECT_LT(relative_error(r.grad_params, fd.grad_params), 1e-7) << name;
    EXPECT_LT(relative_error(r.grad_y0, fd.grad_y0), 1e-7) << name;
  }
}

}  // namespace
}  // namespace revode
