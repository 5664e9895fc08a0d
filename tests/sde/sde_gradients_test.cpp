// Exact gradients of SDE solves: every exact method that applies (anode, checkpoint:C, and
// reversible with its guard for the reversible solvers) against direct backprop through the
// same discretisation and the same Brownian sample, over SDE solvers × methods × noise types
// with save times off the step grid (float64, relative error ≤ 1e-10); central finite
// differences with the noise held fixed; and the named errors of bad SDE input.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "revode/gradients/direct_backprop.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/gradients/reversible_backprop.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/sde/drift_diffusion.hpp"
#include "revode/sde/sde_steppers.hpp"
#include "support/finite_difference.hpp"
#include "support/sde_cases.hpp"

namespace revode {
namespace {

using testing::central_differences;
using testing::message_of;
using testing::relative_error;

/// A neural SDE: MLP drift 2 → 8 → 2 and a diffusion for the noise type (an MLP where g may
/// depend on y, a constant d × 3 matrix for additive noise), θ = [θ_f; θ_g].
struct NeuralSde {
  explicit NeuralSde(NoiseType noise, Index batch = 3) {
    const std::string spec = noise == NoiseType::additive  ? "const:0.3,-0.2,0.1,0.4,0.25,-0.1"
                             : noise == NoiseType::general ? "mlp:2,8,6"
                                                           : "mlp:2,8,2";
    DiffusionBuild<double> g = make_diffusion<double>(spec, noise, 2, Activation::tanh, 3);
    auto drift = std::make_unique<Mlp<double>>(parse_mlp_spec("2,8,2"));
    const Vector<double> theta_f = drift->init_params(Init::pytorch_default, 7);
    theta.resize(theta_f.size() + g.default_params.size());
    theta << theta_f, 0.5 * g.default_params;
    field = std::make_unique<DriftDiffusion<double>>(std::move(drift), std::move(g.diffusion),
                                                     noise, g.noise_dim);
    brownian = std::make_shared<const BrownianTree>(0.0, 1.0, g.noise_dim, 99);
    // Eigen's Random draws from std::rand: seeded here, so that y0 (and with it the adaptive
    // cases' rejections) does not depend on which tests ran before.
    std::srand(1);
    y0 = Batch<double>::Random(2, batch);
  }
  std::unique_ptr<DriftDiffusion<double>> field;
  std::shared_ptr<const BrownianTree> brownian;
  Vector<double> theta;
  Batch<double> y0;
};

struct GradientCase {
  std::string solver;
  NoiseType noise;
};

bool is_reversible(const std::string& solver) { return solver.starts_with("reversible"); }

class SdeGradients : public ::testing::TestWithParam<GradientCase> {};

TEST_P(SdeGradients, EveryExactMethodMatchesBackprop) {
  const GradientCase& c = GetParam();
  const NeuralSde sde(c.noise);
  const auto stepper = make_sde_stepper<double>(c.solver, {}, sde.brownian, *sde.field);
  MseZero<double> loss;
  for (const SaveAt& save : {SaveAt::final_time(1.0), SaveAt::linspace(0.0, 1.0, 4)}) {
    const GradientProblem<double> p{*sde.field, *stepper, FixedSteps{10}, save, 0.0,
                                    1.0,        sde.y0,   sde.theta,      loss};
    const GradientResult<double> reference = DirectBackprop<double>().compute(p);
    ASSERT_TRUE(reference.grad_params.allFinite());
    ASSERT_GT(reference.grad_params.tail(sde.theta.size() - 42).norm(), 0.0)
        << "the diffusion's parameters must get a gradient";
    std::vector<std::string> methods{"anode", "checkpoint:3"};
    if (is_reversible(c.solver)) methods.push_back("reversible");
    testing::expect_methods_match_backprop(p, reference, methods);
  }
}

TEST_P(SdeGradients, BackpropMatchesFiniteDifferencesWithTheNoiseFixed) {
  const GradientCase& c = GetParam();
  const NeuralSde sde(c.noise, 2);
  const auto stepper = make_sde_stepper<double>(c.solver, {}, sde.brownian, *sde.field);
  MseZero<double> loss;
  const GradientProblem<double> p{*sde.field, *stepper, FixedSteps{6}, SaveAt::linspace(0, 1, 3),
                                  0.0,        1.0,      sde.y0,        sde.theta,
                                  loss};
  testing::expect_backprop_matches_finite_differences(p);
}

// Adaptive steps: the forward solve accepts and rejects steps; every method replays exactly the
// accepted ones (StepSequence), with the same increments from the tree, so each equals backprop.
class SdeAdaptiveGradients : public ::testing::TestWithParam<GradientCase> {};

TEST_P(SdeAdaptiveGradients, EveryExactMethodMatchesBackprop) {
  const GradientCase& c = GetParam();
  const NeuralSde sde(c.noise);
  const auto stepper = make_sde_stepper<double>(c.solver, {}, sde.brownian, *sde.field);
  MseZero<double> loss;
  SaveAt save;
  save.ts = {0.37, 1.0};  // off any grid: the controller's steps land on it
  const GradientProblem<double> p{*sde.field, *stepper,  AdaptiveSteps{.rtol = 1e-3, .atol = 1e-3},
                                  save,       0.0,       1.0,
                                  sde.y0,     sde.theta, loss};
  const GradientResult<double> reference = DirectBackprop<double>().compute(p);
  ASSERT_TRUE(reference.grad_params.allFinite());
  ASSERT_GT(reference.stats.steps, 5) << "the test needs several adaptive steps";
  // The replay must skip the rejected attempts: without any the test would not show it.
  RecordProperty("steps", fmt::format("{}/{}", reference.stats.steps, reference.stats.rejected));
  ASSERT_GT(reference.stats.rejected, 0) << "the test needs rejected steps";
  ASSERT_GT(reference.grad_params.tail(sde.theta.size() - 42).norm(), 0.0);
  std::vector<std::string> methods{"anode", "checkpoint:3"};
  if (is_reversible(c.solver)) methods.push_back("reversible");
  testing::expect_methods_match_backprop(p, reference, methods);
}

std::vector<GradientCase> adaptive_gradient_cases() {
  std::vector<GradientCase> cases;
  for (const char* solver : {"heun", "midpoint", "reversible-heun", "reversible:heun"})
    for (NoiseType noise :
         {NoiseType::diagonal, NoiseType::scalar, NoiseType::additive, NoiseType::general})
      cases.push_back({solver, noise});
  return cases;
}

// The gradient of an adaptive solve is that of its accepted steps (the controller's choice of
// steps is not differentiated, as for ODEs): the accepted steps replayed as a fixed grid give
// the same loss and gradient, and central differences of that replay, with the noise and the
// steps held fixed, agree with it.
TEST(SdeAdaptiveGradients, BackpropIsTheGradientOfTheAcceptedStepsWithTheNoiseFixed) {
  for (const char* solver : {"heun", "reversible-heun"}) {
    const NeuralSde sde(NoiseType::diagonal, 2);
    const auto stepper = make_sde_stepper<double>(solver, {}, sde.brownian, *sde.field);
    MseZero<double> loss;
    const GradientProblem<double> adaptive{*sde.field,
                                           *stepper,
                                           AdaptiveSteps{.rtol = 1e-3, .atol = 1e-3},
                                           SaveAt::every_step(),
                                           0.0,
                                           1.0,
                                           sde.y0,
                                           sde.theta,
                                           loss};
    const GradientResult<double> exact = DirectBackprop<double>().compute(adaptive);
    ASSERT_GT(exact.stats.steps, 3) << solver;
    // Rejected attempts leave no trace: the replay below never tries them.
    ASSERT_GT(exact.stats.rejected, 0) << solver;
    SaveAt accepted;  // t0, then every accepted step's end
    accepted.ts = exact.ts;
    const GradientProblem<double> replay{*sde.field, *stepper, FixedSteps{1}, accepted, 0.0,
                                         1.0,        sde.y0,   sde.theta,     loss};
    const GradientResult<double> fixed = DirectBackprop<double>().compute(replay);
    EXPECT_EQ(fixed.stats.steps, exact.stats.steps) << solver;
    EXPECT_NEAR(fixed.loss, exact.loss, 1e-14 * std::abs(exact.loss)) << solver;
    EXPECT_LE(relative_error(fixed.grad_params, exact.grad_params), 1e-12) << solver;
    const auto fd = central_differences(replay);
    EXPECT_LE(relative_error(exact.grad_params, fd.grad_params), 1e-6) << solver;
    EXPECT_LE(relative_error(exact.grad_y0, fd.grad_y0), 1e-6) << solver;
  }
}

// The reconstruction guard wraps SDE walks too: McCallum–Foster with λ = 0.8 over 200 steps
// amplifies round-off by 1.25 per step backwards. Repaired, the gradient is backprop's; left
// alone (warn), the walk is flagged and its gradient is wrong.
TEST(SdeGuard, DriftingMcCallumFosterWalkIsRepaired) {
  const NeuralSde sde(NoiseType::diagonal);
  const auto stepper =
      make_sde_stepper<double>("reversible:midpoint", {.coupling = 0.8}, sde.brownian, *sde.field);
  MseZero<double> loss;
  const GradientProblem<double> p{*sde.field, *stepper, FixedSteps{200}, SaveAt::final_time(1.0),
                                  0.0,        1.0,      sde.y0,          sde.theta,
                                  loss};
  const GradientResult<double> reference = DirectBackprop<double>().compute(p);
  const GradientResult<double> repaired =
      ReversibleBackprop<double>(ReversibleGuard{.policy = GuardPolicy::repair}).compute(p);
  EXPECT_TRUE(repaired.stats.guard.repaired);
  EXPECT_LE(relative_error(repaired.grad_params, reference.grad_params), 1e-10);
  EXPECT_LE(relative_error(repaired.grad_y0, reference.grad_y0), 1e-10);
  const GradientResult<double> unrepaired =
      ReversibleBackprop<double>(ReversibleGuard{.policy = GuardPolicy::warn}).compute(p);
  EXPECT_TRUE(unrepaired.stats.guard.flagged);
  EXPECT_FALSE(unrepaired.grad_params.allFinite() &&
               relative_error(unrepaired.grad_params, reference.grad_params) <= 1e-10);
}

// The guard repairs an adaptive walk too, even one whose rebuilt states overflow: with
// λ = 0.05 the inverse amplifies round-off ~20-fold per step, and over the ~300 adaptive steps
// of rtol = 1e-5 the backward walk reaches inf/NaN. The diffusion's finiteness check applies
// to forward steps only, so the walk ends with a non-finite drift that the guard repairs
// (recomputing from anchors over the recorded steps) instead of a NaN-diffusion error half-way.
TEST(SdeGuard, OverflowingAdaptiveMcCallumFosterWalkIsRepaired) {
  const NeuralSde sde(NoiseType::diagonal);
  const auto stepper =
      make_sde_stepper<double>("reversible:midpoint", {.coupling = 0.05}, sde.brownian, *sde.field);
  MseZero<double> loss;
  const GradientProblem<double> p{*sde.field,
                                  *stepper,
                                  AdaptiveSteps{.rtol = 1e-5, .atol = 1e-5},
                                  SaveAt::final_time(1.0),
                                  0.0,
                                  1.0,
                                  sde.y0,
                                  sde.theta,
                                  loss};
  const GradientResult<double> reference = DirectBackprop<double>().compute(p);
  ASSERT_GT(reference.stats.steps, 200);
  const GradientResult<double> repaired =
      ReversibleBackprop<double>(ReversibleGuard{.policy = GuardPolicy::repair}).compute(p);
  EXPECT_TRUE(repaired.stats.guard.repaired);
  EXPECT_FALSE(std::isfinite(repaired.stats.guard.drift)) << repaired.stats.guard.drift;
  // Memory: segments of several steps (the growth rate of a walk that reached the largest
  // double), not an anchor per step.
  RecordProperty("repair",
                 fmt::format("{} steps, segments of {}, {} anchors", repaired.stats.steps,
                             repaired.stats.guard.segment_steps, repaired.stats.guard.anchors));
  EXPECT_GT(repaired.stats.guard.segment_steps, 1);
  EXPECT_LT(repaired.stats.guard.anchors, repaired.stats.steps);
  EXPECT_EQ(repaired.stats.steps, reference.stats.steps);
  EXPECT_EQ(repaired.loss, reference.loss);
  EXPECT_LE(relative_error(repaired.grad_params, reference.grad_params), 1e-10);
  EXPECT_LE(relative_error(repaired.grad_y0, reference.grad_y0), 1e-10);
}

// The repair's other branch: λ = 0.01 amplifies round-off ~100-fold per step, so the walk
// overflows, and the growth rate of one that reached the largest double (the floor the guard
// can infer) over 1000 steps gives segments of 8, which still drift: each is rolled
// back and walked again on states from a forward replay of its start anchor (undo_from on the
// SDE stepper, the same ΔW from the tree). The gradient is backprop's.
TEST(SdeGuard, SegmentsThatStillDriftAreRecomputedForwards) {
  const NeuralSde sde(NoiseType::diagonal);
  const auto stepper =
      make_sde_stepper<double>("reversible:midpoint", {.coupling = 0.01}, sde.brownian, *sde.field);
  MseZero<double> loss;
  const GradientProblem<double> p{
      *sde.field, *stepper, FixedSteps{1000}, SaveAt::linspace(0.0, 1.0, 3), 0.0, 1.0, sde.y0,
      sde.theta,  loss};
  const GradientResult<double> reference = DirectBackprop<double>().compute(p);
  const GradientResult<double> repaired = ReversibleBackprop<double>().compute(p);
  const GuardStats& g = repaired.stats.guard;
  RecordProperty("repair", fmt::format("drift {}, segments of {}, {} anchors, {} recomputed",
                                       g.drift, g.segment_steps, g.anchors, g.segments_recomputed));
  EXPECT_TRUE(g.repaired);
  EXPECT_GT(g.segments_recomputed, 0);
  EXPECT_LT(g.anchors, repaired.stats.steps);
  EXPECT_EQ(repaired.loss, reference.loss);
  EXPECT_LE(relative_error(repaired.grad_params, reference.grad_params), 1e-10);
  EXPECT_LE(relative_error(repaired.grad_y0, reference.grad_y0), 1e-10);
}

std::vector<GradientCase> gradient_cases() {
  std::vector<GradientCase> cases;
  for (const char* solver :
       {"euler", "heun", "midpoint", "reversible-heun", "reversible:heun", "reversible:midpoint"})
    for (NoiseType noise :
         {NoiseType::diagonal, NoiseType::scalar, NoiseType::additive, NoiseType::general})
      cases.push_back({solver, noise});
  return cases;
}

std::string gradient_case_name(const ::testing::TestParamInfo<GradientCase>& info) {
  return testing::sde_case_name(info.param.solver, info.param.noise);
}

INSTANTIATE_TEST_SUITE_P(SdeSolversTimesNoise, SdeGradients, ::testing::ValuesIn(gradient_cases()),
                         gradient_case_name);
INSTANTIATE_TEST_SUITE_P(AdaptiveSdeSolversTimesNoise, SdeAdaptiveGradients,
                         ::testing::ValuesIn(adaptive_gradient_cases()), gradient_case_name);

TEST(SdeErrors, NonFiniteDiffusionIsNamed) {
  // Finite θ and y0 whose product g = σ y overflows.
  testing::LinearSde s = testing::make_linear_sde(NoiseType::diagonal);
  s.theta.tail(2).setConstant(1e10);
  const auto w = std::make_shared<const BrownianTree>(0.0, 1.0, s.noise_dim, 1);
  for (const char* solver : {"euler", "reversible-heun", "reversible:heun"}) {
    const auto stepper = make_sde_stepper<double>(solver, {}, w, *s.field);
    const std::string m = message_of([&] {
      solve<double>(*s.field, *stepper, FixedSteps{4}, SaveAt::final_time(1.0), 0.0, 1.0,
                    Batch<double>::Constant(2, 1, 1e300), s.theta);
    });
    EXPECT_NE(m.find("diffusion g(t = 0, y)"), std::string::npos) << solver << ": " << m;
    EXPECT_NE(m.find("is not finite"), std::string::npos) << solver << ": " << m;
  }
}

// The continuous adjoint is an ODE adjoint (of the drift alone): refused by name before the
// forward solve, not stopped half-way by the SDE stepper seeing its augmented field.
TEST(SdeErrors, ContinuousAdjointIsRefusedByName) {
  const NeuralSde sde(NoiseType::diagonal);
  MseZero<double> loss;
  for (const char* solver : {"heun", "reversible-heun"}) {
    const auto stepper = make_sde_stepper<double>(solver, {}, sde.brownian, *sde.field);
    const GradientProblem<double> p{*sde.field, *stepper, FixedSteps{4}, SaveAt::final_time(1.0),
                                    0.0,        1.0,      sde.y0,        sde.theta,
                                    loss};
    for (const char* method : {"adjoint", "adjoint:seminorm"}) {
      const std::string m =
          message_of([&] { (void)make_gradient_method<double>(method)->compute(p); });
      EXPECT_NE(m.find("is the continuous adjoint of an ODE; it does not apply to the SDE"),
                std::string::npos)
          << solver << ", " << method << ": " << m;
      EXPECT_NE(m.find("use backprop, anode, checkpoint:C"), std::string::npos) << m;
    }
  }
}

TEST(SdeErrors, ShapeMismatchBetweenDiffusionAndNoiseTypeIsNamed) {
  auto build = [](const char* spec, NoiseType noise) {
    return [=] { make_diffusion<double>(spec, noise, 2, Activation::tanh, 0); };
  };
  EXPECT_NE(message_of(build("mlp:2,8,3", NoiseType::general)).find("a multiple of 2"),
            std::string::npos);
  EXPECT_NE(message_of(build("mlp:2,8,4", NoiseType::diagonal)).find("outputs 4 values"),
            std::string::npos);
  EXPECT_NE(message_of(build("mlp:3,8,3", NoiseType::diagonal)).find("input width 3"),
            std::string::npos);
  EXPECT_NE(message_of(build("const:1,2,3", NoiseType::diagonal)).find("needs 1 or 2"),
            std::string::npos);
  EXPECT_NE(message_of(build("linear:1", NoiseType::additive)).find("depends on y"),
            std::string::npos);
  EXPECT_NE(message_of(build("const:1,x", NoiseType::diagonal)).find("'x' is not a finite"),
            std::string::npos);
  EXPECT_NE(message_of(build("cubic:1", NoiseType::diagonal)).find("unknown kind 'cubic'"),
            std::string::npos);
  EXPECT_NE(message_of([] { parse_noise_type("colored"); }).find("noise type 'colored'"),
            std::string::npos);
  EXPECT_NE(
      message_of([] {
        DriftDiffusion<double>(
            std::make_unique<LinearField<double>>(2),
            make_diffusion<double>("const:1", NoiseType::general, 2, Activation::tanh, 0).diffusion,
            NoiseType::diagonal, 3);
      }).find("diagonal noise needs m = d = 2; got m = 3"),
      std::string::npos);
  // The Brownian motion's dimension must be the field's m.
  const testing::LinearSde s = testing::make_linear_sde(NoiseType::general);
  EXPECT_NE(message_of([&] {
              make_sde_stepper<double>("heun", {}, std::make_shared<BrownianTree>(0, 1, 5, 0),
                                       *s.field);
            }).find("noise dimension 2, the Brownian motion 5"),
            std::string::npos);
}

TEST(SdeErrors, NonPositiveStepsAndOdeFieldsAndOtherSolversAreNamed) {
  const testing::LinearSde s = testing::make_linear_sde(NoiseType::scalar);
  const auto w = std::make_shared<const BrownianTree>(0.0, 1.0, 1, 0);
  for (const char* solver : {"euler", "reversible-heun", "reversible:heun"}) {
    const auto stepper = make_sde_stepper<double>(solver, {}, w, *s.field);
    const std::string backwards = message_of([&] {
      solve<double>(*s.field, *stepper, FixedSteps{4}, SaveAt::final_time(0.0), 1.0, 0.0,
                    Batch<double>::Ones(2, 1), s.theta);
    });
    EXPECT_NE(backwards.find("SDE steps go forward in time; dt = -0.25"), std::string::npos)
        << solver << ": " << backwards;
    LinearField<double> ode(2);
    const std::string no_diffusion = message_of([&] {
      solve<double>(ode, *stepper, FixedSteps{4}, SaveAt::final_time(1.0), 0.0, 1.0,
                    Batch<double>::Ones(2, 1), ode.default_params());
    });
    EXPECT_NE(no_diffusion.find("has no diffusion"), std::string::npos) << no_diffusion;
    // Dense output would interpolate the drift alone between steps: refused, not wrong.
    SaveAt dense = SaveAt::final_time(1.0);
    dense.ts = {0.3, 1.0};
    dense.dense = true;
    const std::string interpolated = message_of([&] {
      solve<double>(*s.field, *stepper, FixedSteps{4}, dense, 0.0, 1.0, Batch<double>::Ones(2, 1),
                    s.theta);
    });
    EXPECT_NE(interpolated.find("dense output does not apply"), std::string::npos)
        << solver << ": " << interpolated;
  }
  EXPECT_NE(message_of([&] {
              make_sde_stepper<double>("alf", {}, w, *s.field);
            }).find("solver 'alf' has no SDE form here"),
            std::string::npos);
  EXPECT_NE(message_of([&] {
              Batch<double> out(1, 1);
              w->value(2.0, out);
            }).find("outside its interval [0, 1]"),
            std::string::npos);
}

}  // namespace
}  // namespace revode
