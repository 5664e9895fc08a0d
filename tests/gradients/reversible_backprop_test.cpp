// Reversible backprop: the same gradient as direct backprop through the same reversible solver
// (every solver × fixed/adaptive × batch 1/8), central finite differences with dense saves,
// memory independent of the number of steps, and the errors it reports.
#include "revode/gradients/reversible_backprop.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "revode/fields/linear.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/solvers/reversible_stepper.hpp"
#include "support/finite_difference.hpp"
#include "support/solver_cases.hpp"
#include "support/without_forward_tape.hpp"

namespace revode {
namespace {

using testing::central_differences;
using testing::relative_error;

constexpr SolverOptions kOptions{.coupling = 0.999, .damping = 1.0};

using Case = testing::SolverCase;

std::vector<Case> every_case() {
  std::vector<Case> cases;
  for (const auto& name : solver_names()) {
    const auto stepper = make_stepper<double>(name, kOptions);
    if (dynamic_cast<const ReversibleStepper<double>*>(stepper.get()) == nullptr) continue;
    for (bool adaptive : {false, true})
      for (Index batch : {1, 8})
        if (!adaptive || stepper->error_order() > 0) cases.push_back({name, adaptive, batch});
  }
  return cases;
}

Batch<double> initial_states(Index batch) {
  Batch<double> y0(2, batch);
  for (Index j = 0; j < batch; ++j) y0.col(j) << 1.0 - 0.2 * double(j), 0.3 * double(j) - 0.5;
  return y0;
}

class ReversibleMatchesBackprop : public ::testing::TestWithParam<Case> {};

TEST_P(ReversibleMatchesBackprop, OnAnMlpField) {
  const Case& c = GetParam();
  const Mlp<double> f(parse_mlp_spec("2,16,16,2"));
  const Vector<double> theta = f.init_params(Init::pytorch_default, 11);
  const Batch<double> y0 = initial_states(c.batch);
  const auto stepper = make_stepper<double>(c.solver, kOptions);
  const StepControl control = c.adaptive ? StepControl(AdaptiveSteps{.rtol = 1e-6, .atol = 1e-8})
                                         : StepControl(FixedSteps{1000});
  // Batch 1 saves at a few times, batch 8 at every step: both save walks are exercised.
  const SaveAt save = c.batch == 1 ? SaveAt::linspace(0.0, 1.0, 5) : SaveAt::every_step();
  MseZero<double> loss;
  const GradientProblem<double> p{f, *stepper, control, save, 0.0, 1.0, y0, theta, loss};
  const auto reference = DirectBackprop<double>().compute(p);
  const auto r = ReversibleBackprop<double>().compute(p);
  const double e_theta = relative_error(r.grad_params, reference.grad_params);
  const double e_y0 = relative_error(r.grad_y0, reference.grad_y0);
  RecordProperty("grad_params_rel_error", fmt::format("{:.3e}", e_theta));
  RecordProperty("grad_y0_rel_error", fmt::format("{:.3e}", e_y0));
  RecordProperty("reconstruction_error", fmt::format("{:.3e}", r.stats.reconstruction_error));
  EXPECT_LE(e_theta, 1e-10);  // measured ≤ 1.3e-14
  EXPECT_LE(e_y0, 1e-10);
  EXPECT_NEAR(r.loss, reference.loss, 1e-14 * std::abs(reference.loss));
  EXPECT_EQ(r.ts, reference.ts);
  EXPECT_EQ(r.stats.steps, reference.stats.steps);
  EXPECT_EQ(r.stats.recomputed_steps, r.stats.steps);
  EXPECT_LT(r.stats.reconstruction_error, 1e-10);
  EXPECT_LT(r.stats.stored_floats, reference.stats.stored_floats);
  // Well conditioned: the guard checked and kept nothing.
  EXPECT_TRUE(r.stats.guard.active);
  EXPECT_FALSE(r.stats.guard.repaired);
  EXPECT_EQ(r.stats.guard.anchors, 0);
}

INSTANTIATE_TEST_SUITE_P(EverySolver, ReversibleMatchesBackprop, ::testing::ValuesIn(every_case()),
                         testing::solver_case_name);

TEST(ReversibleBackprop, MatchesFiniteDifferencesWithDenseSaves) {
  const Mlp<double> f(parse_mlp_spec("2,6,2"));
  const Vector<double> theta = f.init_params(Init::glorot, 2);
  const Batch<double> y0 = initial_states(2);
  SaveAt save = SaveAt::linspace(0.0, 1.0, 4);  // 1/3 and 2/3 fall inside steps
  save.dense = true;
  MseZero<double> loss;
  for (const char* name : {"reversible:midpoint", "reversible-heun", "alf"}) {
    const auto stepper = make_stepper<double>(name, kOptions);
    const GradientProblem<double> p{f, *stepper, FixedSteps{20}, save, 0.0, 1.0, y0, theta, loss};
    const auto r = ReversibleBackprop<double>().compute(p);
    const auto fd = central_differences(p);
    EXPECT_LT(relative_error(r.grad_params, fd.grad_params), 1e-7) << name;
    EXPECT_LT(relative_error(r.grad_y0, fd.grad_y0), 1e-7) << name;
  }
}

TEST(ReversibleBackprop, StoredFloatsDoNotGrowWithTheNumberOfFixedSteps) {
  LinearField<double> f(2);
  const Vector<double> theta = f.default_params();
  const Batch<double> y0 = initial_states(1);
  MseZero<double> loss;
  // reversible:euler would drift at 10^5 steps (and be repaired by the guard, which then
  // keeps anchors: ReversibleGuard.LongEulerWalkOnADampedSpiralIsRepaired); midpoint does not.
  for (const char* name : {"reversible:midpoint", "reversible-heun", "alf"}) {
    const auto stepper = make_stepper<double>(name, kOptions);
    Index stored[2];
    for (int i = 0; i < 2; ++i) {
      const Index steps = i == 0 ? 1000 : 100000;
      const GradientProblem<double> p{
          f, *stepper, FixedSteps{steps}, SaveAt::linspace(0, 1, 3), 0.0, 1.0, y0, theta, loss};
      const auto r = ReversibleBackprop<double>().compute(p);
      EXPECT_EQ(r.stats.steps, steps);
      EXPECT_FALSE(r.stats.guard.repaired) << name << " drift " << r.stats.guard.drift;
      stored[i] = r.stats.stored_floats;
    }
    EXPECT_EQ(stored[0], stored[1]) << name;
    // Two states and two adjoints, pending and the save cotangent, one tape, one split pair.
    const Index rows = 2 * stepper->state_copies();
    EXPECT_EQ(stored[0], 4 * rows + 2 * 2 + 2 * stepper->tape_cols(1) + 2) << name;
  }
}

// An MLP keeps each backward step's forwards for the step's VJPs (Mlp::TapeOrder::step): the
// gradient must be bit for bit the one that recomputes every forward, for every reversible
// solver (McCallum–Foster's VJPs come in another order than its evaluations; the FSAL stage of
// dopri5 is evaluated and never pulled back), at batch 1 (the column kernels), a narrow batch
// (the slab path) and a wide one (the forward cache instead), with dense saves (whose slopes
// and VJPs sit between the step's) and through the guard's repair (forward replays, whose
// evaluations are never pulled back). The tape holds one step's evaluations: counted in
// stored_floats, the same for 25 and 55 steps, and emptied afterwards. At batch 1 the 24 → 90
// layer also defers its weight gradients (Mlp::defer_weight_gradients), flushed at the
// repair's marks and dropped at its restart (terms are pending there with dense saves over 299
// steps) and at the rewinds of segments that still drift (λ = 0.01): the same bits again.
TEST(ReversibleBackprop, ForwardTapeOfAnMlpGivesBitIdenticalGradientsInConstantMemory) {
  const Mlp<double> f(parse_mlp_spec("2,24,90,2", Activation::tanh, true));
  const Vector<double> theta = f.init_params(Init::pytorch_default, 3);
  const testing::WithoutForwardTape plain(f);
  MseZero<double> loss;
  // t, y and σ of 24 + 90 units per column (tanh' is rebuilt from σ); the deferred terms'
  // four (x, g) columns of the 24 → 90 layer at batch 1
  const auto entry = [](Index batch) { return 1 + (2 + 114) * batch; };
  const auto deferred = [](Index batch) { return batch == 1 ? 4 * (24 + 90) : 0; };
  for (const char* name :
       {"reversible:midpoint", "reversible:rk4", "reversible:dopri5", "reversible-heun", "alf"}) {
    const auto stepper = make_stepper<double>(name, kOptions);
    for (const Index batch : {1, 5, 40}) {  // 40: the forward cache, no tape
      const Batch<double> y0 = Batch<double>::Random(2, batch);
      for (const bool dense : {false, true}) {
        SCOPED_TRACE(fmt::format("{} batch {} dense {}", name, batch, dense));
        SaveAt save = dense ? SaveAt::linspace(0.0, 1.0, 7) : SaveAt::every_step();
        save.dense = dense;
        Index stored[2];
        for (const Index steps : {25, 55}) {  // no save on a step boundary
          const GradientProblem<double> p{f, *stepper, FixedSteps{steps}, save, 0.0, 1.0,
                                          y0, theta, loss};
          const GradientProblem<double> q{plain, *stepper, FixedSteps{steps}, save, 0.0, 1.0,
                                          y0, theta, loss};
          const auto taped = ReversibleBackprop<double>().compute(p);
          const auto recomputed = ReversibleBackprop<double>().compute(q);
          EXPECT_EQ(taped.grad_params, recomputed.grad_params);
          EXPECT_EQ(taped.grad_y0, recomputed.grad_y0);
          EXPECT_EQ(taped.loss, recomputed.loss);
          EXPECT_EQ(taped.stats.nfe, recomputed.stats.nfe);
          EXPECT_EQ(taped.stats.nvjp, recomputed.stats.nvjp);
          const Index tape = taped.stats.stored_floats - recomputed.stats.stored_floats;
          if (batch >= Mlp<double>::kForwardCacheMinBatch) {
            EXPECT_EQ(tape, 0);
          } else if (std::string(name) == "reversible:midpoint" && !dense) {
            // McCallum–Foster over midpoint: a backward step evaluates both base steps' 2 stages.
            EXPECT_EQ(tape, 4 * entry(batch) + deferred(batch));
          } else {
            EXPECT_GT(tape, deferred(batch));
          }
          EXPECT_EQ(f.recorded_floats(), 0);
          stored[steps == 25 ? 0 : 1] = taped.stats.stored_floats;
        }
        EXPECT_EQ(stored[0], stored[1]);
      }
    }
  }
  // The guard's repair: a coupling λ = 0.5 drifts past the tolerance within 300 steps.
  const auto stepper = make_stepper<double>("reversible:midpoint", {.coupling = 0.5});
  for (const bool dense : {false, true}) {
    SaveAt save = SaveAt::linspace(0.0, 1.0, 11);
    save.dense = dense;
    const Batch<double> y0 = Batch<double>::Random(2, dense ? 1 : 3);
    const FixedSteps steps{dense ? 299 : 300};  // 299: the saves fall inside steps
    const GradientProblem<double> p{f, *stepper, steps, save, 0.0, 1.0, y0, theta, loss};
    const GradientProblem<double> q{plain, *stepper, steps, save, 0.0, 1.0, y0, theta, loss};
    const auto taped = ReversibleBackprop<double>().compute(p);
    const auto recomputed = ReversibleBackprop<double>().compute(q);
    ASSERT_TRUE(taped.stats.guard.repaired) << "drift " << taped.stats.guard.drift;
    EXPECT_EQ(taped.grad_params, recomputed.grad_params) << dense;
    EXPECT_EQ(taped.grad_y0, recomputed.grad_y0) << dense;
    EXPECT_EQ(taped.stats.nfe, recomputed.stats.nfe);
    EXPECT_EQ(f.recorded_floats(), 0);
  }
  // A repair that rolls segments back: λ = 0.01 overflows the first walk, and its segments
  // still drift, so each is rewound (its deferred terms dropped, not flushed into θ̄) and
  // walked again on replayed states. Batch 1, so the 24 → 90 layer defers throughout; the
  // dense saves inside the steps add VJPs, so terms are pending at the rewinds (a step of
  // McCallum–Foster over midpoint alone takes 4 VJPs, a whole deferral round).
  const auto steep = make_stepper<double>("reversible:midpoint", {.coupling = 0.01});
  const Batch<double> y1 = Batch<double>::Constant(2, 1, 0.3);
  SaveAt save = SaveAt::linspace(0.0, 1.0, 51);
  save.dense = true;
  const FixedSteps steps{399};
  const GradientProblem<double> p{f, *steep, steps, save, 0.0, 1.0, y1, theta, loss};
  const GradientProblem<double> q{plain, *steep, steps, save, 0.0, 1.0, y1, theta, loss};
  const auto taped = ReversibleBackprop<double>().compute(p);
  const auto recomputed = ReversibleBackprop<double>().compute(q);
  ASSERT_GT(taped.stats.guard.segments_recomputed, 0) << "drift " << taped.stats.guard.drift;
  EXPECT_EQ(taped.grad_params, recomputed.grad_params);
  EXPECT_EQ(taped.grad_y0, recomputed.grad_y0);
  EXPECT_EQ(f.recorded_floats(), 0);
}

TEST(ReversibleBackprop, AdaptiveStepsCountTheirStepTimes) {
  LinearField<double> f(2);
  const Vector<double> theta = f.default_params();
  const auto stepper = make_stepper<double>("alf", kOptions);
  const Batch<double> y0 = initial_states(1);
  MseZero<double> loss;
  const GradientProblem<double> p{f,
                                  *stepper,
                                  AdaptiveSteps{.rtol = 1e-5, .atol = 1e-7},
                                  SaveAt::final_time(1.0),
                                  0.0,
                                  1.0,
                                  y0,
                                  theta,
                                  loss};
  const auto r = ReversibleBackprop<double>().compute(p);
  ASSERT_GT(r.stats.steps, 3);
  EXPECT_EQ(r.stats.stored_floats, 4 * 4 + 2 * 2 + (r.stats.steps + 1));
  EXPECT_NE(r.stats.brief().find("reconstruction_error"), std::string::npos);
}

TEST(ReversibleBackprop, ReconstructionErrorShowsTheInverseAmplifyingRoundOff) {
  // The McCallum–Foster inverse multiplies round-off by about 1/λ per step: 0.5^-200 ≈ 1.6e60
  // swamps y0 entirely, while λ = 0.999 stays at round-off.
  const Mlp<double> f(parse_mlp_spec("2,8,2"));
  const Vector<double> theta = f.init_params(Init::pytorch_default, 9);
  const Batch<double> y0 = initial_states(2);
  MseZero<double> loss;
  double error[2];
  for (int i = 0; i < 2; ++i) {
    const auto stepper = make_stepper<double>("reversible:rk4", {.coupling = i == 0 ? 0.999 : 0.5});
    const GradientProblem<double> p{
        f, *stepper, FixedSteps{200}, SaveAt::final_time(2.0), 0.0, 2.0, y0, theta, loss};
    // Policy warn: the raw walk's error, which the default policy would repair.
    error[i] = ReversibleBackprop<double>(ReversibleGuard{.policy = GuardPolicy::warn})
                   .compute(p)
                   .stats.reconstruction_error;
  }
  EXPECT_LT(error[0], 1e-12);
  EXPECT_GT(error[1], 1e-3);
}

TEST(ReversibleBackprop, FloatGradientsAgreeWithBackprop) {
  const Mlp<float> f(parse_mlp_spec("2,8,2"));
  const Vector<float> theta = f.init_params(Init::glorot, 4);
  const Batch<float> y0 = initial_states(3).cast<float>();
  MseZero<float> loss;
  const auto stepper = make_stepper<float>("reversible:rk4", kOptions);
  const GradientProblem<float> p{
      f, *stepper, FixedSteps{50}, SaveAt::every_step(), 0.0, 1.0, y0, theta, loss};
  const auto a = ReversibleBackprop<float>().compute(p);
  const auto b = DirectBackprop<float>().compute(p);
  const Vector<double> ga = a.grad_params.cast<double>(), gb = b.grad_params.cast<double>();
  EXPECT_LT(relative_error(ga, gb), 1e-4);
  EXPECT_LT(a.stats.reconstruction_error, 1e-5);
}

TEST(ReversibleBackprop, NonReversibleSolverIsAClearError) {
  LinearField<double> f(2);
  const Vector<double> theta = f.default_params();
  const auto stepper = make_stepper<double>("dopri5");
  const Batch<double> y0 = initial_states(1);
  MseZero<double> loss;
  const GradientProblem<double> p{
      f, *stepper, FixedSteps{10}, SaveAt::final_time(1.0), 0.0, 1.0, y0, theta, loss};
  try {
    make_gradient_method<double>("reversible")->compute(p);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'dopri5' is not"), std::string::npos) << what;
    EXPECT_NE(what.find("reversible-heun"), std::string::npos) << what;
    EXPECT_NE(what.find("alf"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace revode
