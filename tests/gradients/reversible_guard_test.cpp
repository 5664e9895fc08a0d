// The reconstruction guard of reversible backprop: on families of ill-conditioned inverses
// (damped ALF, small coupling λ over long horizons, expanding MLP fields, float32, adaptive
// steps) `repair` returns direct backprop's gradient, `error` refuses with a named error,
// `warn` flags; the drift bounds the gradient error; well-conditioned walks are untouched.
#include "revode/gradients/reversible_guard.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "revode/gradients/direct_backprop.hpp"
#include "revode/gradients/reversible_backprop.hpp"
#include "revode/fields/linear.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/registry.hpp"
#include "support/finite_difference.hpp"

namespace revode {
namespace {

using testing::relative_error;

/// One ill-conditioned problem: a field (an MLP 2→16→16→2 with its activation and a scale
/// on its initial θ, or an expanding linear spiral y' = [[a, −ω], [ω, a]] y), a reversible
/// solver with its coupling or damping, a horizon and fixed steps (0: adaptive).
struct DriftCase {
  std::string label;
  std::string solver;
  SolverOptions options;
  Index steps;
  double t1 = 1.0;
  std::string field = "tanh";  // an activation, or "linear"
  double scale = 1.0;          // MLP: θ scale (> 1 expands); linear: a
  // The first walk's drift must reach this (10× the float64 tolerance unless said), or the
  // tests below would check a walk that hardly needs the guard: round-off differs between
  // builds, and a walk that drifts by little in one may not drift at all in another.
  double min_drift = 1e-9;
  // The repaired ȳ0 against backprop's. 1e-10 unless said.
  double y0_tolerance = 1e-10;
};

std::vector<DriftCase> drifting_cases() {
  return {
      {"damped_alf_eta0p9_200", "alf", {.coupling = 0.999, .damping = 0.9}, 200},
      {"damped_alf_eta0p7_300", "alf", {.coupling = 0.999, .damping = 0.7}, 300},
      {"mf_midpoint_lambda0p9_300", "reversible:midpoint", {.coupling = 0.9, .damping = 1.0}, 300},
      // λ = 0.99 over 3000 steps (t1 = 3) drifted 2e-6 in the release build but reconstructed
      // exactly (6e-16) in the sanitizer build once the stage sums became fma loops. λ = 0.9
      // over 400 steps amplifies round-off by ~(1/0.9)^400 ≈ 10^18: drift 5.3e2 in both.
      {"mf_rk4_lambda0p9_400", "reversible:rk4", {.coupling = 0.9, .damping = 1.0}, 400, 1.0,
       "tanh", 1.0, 1e-4},
      // The defaults (λ = 0.999, η = 1) on expanding dynamics.
      {"mf_midpoint_expanding_mlp_1000", "reversible:midpoint", {}, 1000, 10.0, "softplus", 4.0},
      // Reversible Heun's ȳ0 here is what is left of x̄0's parts cancelling 6.5e3-fold: held
      // to the drift alone, the repair's segments (drift 3.7e-13) gave a ȳ0 9.3e-11 from
      // backprop's (9.4e-11 from a long-double reference); held to drift × cancellation, 6.7e-13.
      {"heun_expanding_mlp_1000", "reversible-heun", {}, 1000, 10.0, "softplus", 4.0, 1e-9,
       1e-11},
      {"mf_rk4_expanding_linear_1000", "reversible:rk4", {}, 1000, 10.0, "linear", 1.0},
      {"mf_dopri5_adaptive_expanding_mlp", "reversible:dopri5", {.coupling = 0.9, .damping = 1.0},
       0, 10.0, "softplus", 4.0},
  };
}

template <class T>
struct DriftProblem {
  std::unique_ptr<VectorField<T>> field;
  Vector<T> theta;
  Batch<T> y0;
  std::unique_ptr<Stepper<T>> stepper;
  StepControl control;
  MseZero<T> loss;

  explicit DriftProblem(const DriftCase& c, Index batch = 4) {
    if (c.field == "linear") {
      field = std::make_unique<LinearField<T>>(2);
      theta.resize(4);
      theta << T(c.scale), T(3), T(-3), T(c.scale);  // column-major A
    } else {
      MlpSpec spec = parse_mlp_spec("2,16,16,2");
      spec.activation = parse_activation(c.field);
      auto mlp = std::make_unique<Mlp<T>>(spec);
      theta = (mlp->init_params(Init::pytorch_default, 5) * T(c.scale)).eval();
      field = std::move(mlp);
    }
    y0.resize(2, batch);
    for (Index j = 0; j < batch; ++j) y0.col(j) << T(0.8 - 0.3 * double(j)), T(0.2 * double(j) - 0.4);
    stepper = make_stepper<T>(c.solver, c.options);
    control = c.steps > 0 ? StepControl(FixedSteps{c.steps})
                          : StepControl(AdaptiveSteps{.rtol = 1e-7, .atol = 1e-9});
  }
  GradientProblem<T> problem(const DriftCase& c) const {
    return {*field, *stepper, control, SaveAt::linspace(0.0, c.t1, 6), 0.0, c.t1, y0, theta, loss};
  }
};

GradientResult<double> reversible(const GradientProblem<double>& p, GuardPolicy policy) {
  return ReversibleBackprop<double>(ReversibleGuard{.policy = policy}).compute(p);
}

class GuardOnDriftingWalks : public ::testing::TestWithParam<DriftCase> {};

TEST_P(GuardOnDriftingWalks, RepairReturnsTheBackpropGradient) {
  const DriftCase& c = GetParam();
  const DriftProblem<double> s(c);
  const auto p = s.problem(c);
  const auto reference = DirectBackprop<double>().compute(p);
  const auto r = reversible(p, GuardPolicy::repair);
  const double e_theta = relative_error(r.grad_params, reference.grad_params);
  const double e_y0 = relative_error(r.grad_y0, reference.grad_y0);
  RecordProperty("first_drift", fmt::format("{:.3e}", r.stats.guard.drift));
  RecordProperty("anchors", fmt::format("{}", r.stats.guard.anchors));
  RecordProperty("grad_params_rel_error", fmt::format("{:.3e}", e_theta));
  fmt::print("{}: first drift {:.2e}, y0 cancellation {:.2e}, anchors {}, recomputed {}, "
             "bound {:.2e}; error θ̄ {:.2e}, ȳ0 {:.2e}\n",
             c.label, r.stats.guard.drift, r.stats.guard.y0_cancellation, r.stats.guard.anchors,
             r.stats.guard.segments_recomputed, r.stats.guard.gradient_error_bound, e_theta, e_y0);
  ASSERT_GE(r.stats.guard.drift, c.min_drift)
      << "this walk no longer drifts past its margin (tolerance " << r.stats.guard.tolerance
      << "): it cannot test the guard; pick a walk that drifts in every build";
  EXPECT_TRUE(r.stats.guard.repaired) << "drift " << r.stats.guard.drift;
  EXPECT_GT(r.stats.guard.drift, r.stats.guard.tolerance);
  EXPECT_GT(r.stats.guard.anchors, 0);
  EXPECT_LE(e_theta, 1e-10) << "first drift " << r.stats.guard.drift << ", anchors "
                            << r.stats.guard.anchors << ", recomputed segments "
                            << r.stats.guard.segments_recomputed;
  EXPECT_LE(e_y0, c.y0_tolerance);
  // The bound covers ȳ0 too, up to the reference's own round-off (backprop's ȳ0 on the Heun
  // walk: 1.2e-12 from a long-double reference).
  EXPECT_LE(e_y0, std::max(r.stats.guard.gradient_error_bound, 1e-12))
      << "y0 cancellation " << r.stats.guard.y0_cancellation;
  EXPECT_LE(r.stats.guard.gradient_error_bound, r.stats.guard.tolerance);
  EXPECT_LE(r.stats.reconstruction_error, r.stats.guard.tolerance);
  EXPECT_NEAR(r.loss, reference.loss, 1e-13 * std::abs(reference.loss));
  // Memory: the anchors (and one recomputed segment) rather than every state.
  EXPECT_LT(r.stats.guard.anchors, r.stats.steps);
}

TEST_P(GuardOnDriftingWalks, ErrorRefusesWithTheDrift) {
  const DriftCase& c = GetParam();
  const DriftProblem<double> s(c);
  try {
    (void)reversible(s.problem(c), GuardPolicy::error);
    ADD_FAILURE() << "no ReconstructionError";
  } catch (const ReconstructionError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("drift"), std::string::npos) << message;
    EXPECT_NE(message.find("tolerance"), std::string::npos) << message;
    EXPECT_NE(message.find("steps back"), std::string::npos) << message;
  }
}

TEST_P(GuardOnDriftingWalks, WarnFlagsAndTheDriftBoundsTheError) {
  const DriftCase& c = GetParam();
  const DriftProblem<double> s(c);
  const auto p = s.problem(c);
  const auto reference = DirectBackprop<double>().compute(p);
  const auto r = reversible(p, GuardPolicy::warn);
  ASSERT_GE(r.stats.guard.drift, c.min_drift) << "this walk no longer drifts past its margin";
  EXPECT_TRUE(r.stats.guard.flagged);
  EXPECT_FALSE(r.stats.guard.repaired);
  EXPECT_EQ(r.stats.guard.anchors, 0);
  // The documented bound: relative gradient error ≤ the walk's drift (when finite).
  const double e_theta = relative_error(r.grad_params, reference.grad_params);
  const double e_y0 = relative_error(r.grad_y0, reference.grad_y0);
  RecordProperty("unrepaired_grad_error", fmt::format("{:.3e}", e_theta));
  fmt::print("{} unrepaired: drift {:.2e}, y0 cancellation {:.2e}, bound {:.2e}; error θ̄ "
             "{:.2e}, ȳ0 {:.2e}\n",
             c.label, r.stats.guard.drift, r.stats.guard.y0_cancellation,
             r.stats.guard.gradient_error_bound, e_theta, e_y0);
  if (std::isfinite(r.stats.guard.drift) && std::isfinite(e_theta)) {
    EXPECT_LE(e_theta, r.stats.guard.gradient_error_bound) << "drift " << r.stats.guard.drift;
  }
  if (std::isfinite(r.stats.guard.drift) && std::isfinite(e_y0)) {
    EXPECT_LE(e_y0, r.stats.guard.gradient_error_bound) << "drift " << r.stats.guard.drift;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, GuardOnDriftingWalks, ::testing::ValuesIn(drifting_cases()),
                         [](const auto& info) { return info.param.label; });

// McCallum–Foster midpoint on the expanding softplus MLP over 600 steps to t = 6: the walk
// rebuilds y0 within the tolerance (drift 1.8e-11 against 1e-10), but ȳ0 is x̄0's parts
// cancelling 71-fold, so the bound (1.3e-9) is not met and the walk is repaired (or refused).
DriftCase cancelling_case() {
  return {"mf_midpoint_expanding_mlp_600", "reversible:midpoint", {}, 600, 6.0, "softplus", 4.0};
}

TEST(ReversibleGuard, RepairsAWalkWithinTheDriftToleranceWhoseY0Cancels) {
  const DriftCase c = cancelling_case();
  const DriftProblem<double> s(c);
  const auto p = s.problem(c);
  const auto reference = DirectBackprop<double>().compute(p);
  const auto r = reversible(p, GuardPolicy::repair);
  const GuardStats& g = r.stats.guard;
  RecordProperty("y0_cancellation", fmt::format("{:.3e}", g.y0_cancellation));
  ASSERT_LE(g.drift, g.tolerance / 3) << "this walk now drifts past the tolerance by itself";
  ASSERT_GE(g.drift * g.y0_cancellation, 3 * g.tolerance) << "its ȳ0 no longer cancels enough";
  EXPECT_TRUE(g.repaired);
  EXPECT_FALSE(g.flagged);
  EXPECT_GT(g.anchors, 0);
  EXPECT_LE(g.gradient_error_bound, g.tolerance);
  EXPECT_LE(relative_error(r.grad_y0, reference.grad_y0), 1e-11);
  EXPECT_LE(relative_error(r.grad_params, reference.grad_params), 1e-11);
  // `error` refuses it, naming the cancellation; `warn` flags it with the bound.
  try {
    (void)reversible(p, GuardPolicy::error);
    ADD_FAILURE() << "no ReconstructionError";
  } catch (const ReconstructionError& e) {
    EXPECT_NE(std::string(e.what()).find("cancel"), std::string::npos) << e.what();
  }
  const auto warned = reversible(p, GuardPolicy::warn);
  EXPECT_TRUE(warned.stats.guard.flagged);
  // What the guard now repairs was wrong: the unrepaired ȳ0 is off by more than the repaired.
  EXPECT_GT(relative_error(warned.grad_y0, reference.grad_y0),
            10 * relative_error(r.grad_y0, reference.grad_y0));
  EXPECT_DOUBLE_EQ(warned.stats.guard.gradient_error_bound,
                   warned.stats.guard.drift * warned.stats.guard.y0_cancellation);
}

TEST(ReversibleGuard, Y0CancellationIsThePartsOverTheirSum) {
  const double eps = std::numeric_limits<double>::epsilon();
  EXPECT_DOUBLE_EQ(y0_cancellation(2.5e7, 5.0, eps), 5e6);
  // No cancellation: at least 1.
  EXPECT_EQ(y0_cancellation(5.0, 10.0, eps), 1.0);
  // ȳ0 = 0 is capped at 1/ε (float32: 1/ε of float32); zero or non-finite parts give 1.
  EXPECT_EQ(y0_cancellation(2.5e7, 0.0, eps), 1 / eps);
  const double eps32 = std::numeric_limits<float>::epsilon();
  EXPECT_EQ(y0_cancellation(1.0, 0.0, eps32), 1 / eps32);
  EXPECT_EQ(y0_cancellation(0.0, 5.0, eps), 1.0);
  EXPECT_EQ(y0_cancellation(std::numeric_limits<double>::infinity(), 5.0, eps), 1.0);
  EXPECT_EQ(y0_cancellation(5.0, std::numeric_limits<double>::quiet_NaN(), eps), 1.0);
}

TEST(ReversibleGuard, TargetStopsAtSixteenEpsilons) {
  const double eps = std::numeric_limits<float>::epsilon();
  EXPECT_EQ(guard_target(1e-4, 10.0, eps), 1e-5);
  EXPECT_EQ(guard_target(1e-4, 1e6, eps), 16 * eps);
}

TEST(ReversibleGuard, Float32RepairMeetsFloat32Backprop) {
  // float32's round-off is 1e9 times float64's: these walks drift far sooner. Both drift by
  // orders of magnitude past 1e-4 in every build (λ = 0.9 over 400 steps drifted 4e-3 in the
  // release build but only 2e-5 in the sanitizer build: round-off differs between builds).
  for (const DriftCase& c : {
           DriftCase{"mf", "reversible:midpoint", {.coupling = 0.8, .damping = 1.0}, 200, 2.0, "tanh", 2.0},
           DriftCase{"alf", "alf", {.coupling = 0.999, .damping = 0.7}, 100, 1.0, "tanh", 1.0},
       }) {
    const DriftProblem<float> s(c);
    const auto p = s.problem(c);
    const auto reference = DirectBackprop<float>().compute(p);
    const auto warned =
        ReversibleBackprop<float>(ReversibleGuard{.policy = GuardPolicy::warn}).compute(p);
    const auto repaired = ReversibleBackprop<float>().compute(p);
    const Vector<double> expected = reference.grad_params.cast<double>();
    const double e_warned = relative_error(warned.grad_params.cast<double>().eval(), expected);
    const double e_repaired = relative_error(repaired.grad_params.cast<double>().eval(), expected);
    fmt::print("float32 {}: drift {:.2e}, unrepaired error {:.2e}, repaired {:.2e}\n", c.label,
               repaired.stats.guard.drift, e_warned, e_repaired);
    EXPECT_TRUE(repaired.stats.guard.repaired) << c.label;
    EXPECT_TRUE(warned.stats.guard.flagged) << c.label;
    EXPECT_LE(e_repaired, 1e-6) << c.label;  // float32's own floor (measured ≤ 1.2e-7)
    EXPECT_GT(e_warned, 10 * e_repaired) << c.label;
  }
}

TEST(ReversibleGuard, WellConditionedWalksAreUntouched) {
  const DriftCase c{"fine", "reversible:midpoint", {.coupling = 0.999, .damping = 1.0}, 1000};
  const DriftProblem<double> s(c);
  const auto p = s.problem(c);
  const auto repair = reversible(p, GuardPolicy::repair);
  const auto warn = reversible(p, GuardPolicy::warn);
  const auto error = reversible(p, GuardPolicy::error);
  for (const auto* r : {&repair, &warn, &error}) {
    EXPECT_TRUE(r->stats.guard.active);
    EXPECT_FALSE(r->stats.guard.repaired);
    EXPECT_FALSE(r->stats.guard.flagged);
    EXPECT_EQ(r->stats.guard.anchors, 0);
    EXPECT_LE(r->stats.guard.drift, r->stats.guard.tolerance);
    EXPECT_EQ(r->stats.recomputed_steps, r->stats.steps);
    EXPECT_EQ(r->grad_params, repair.grad_params);  // bit-identical whatever the policy
    EXPECT_EQ(r->stats.stored_floats, repair.stats.stored_floats);
    EXPECT_EQ(r->stats.nfe, repair.stats.nfe);
  }
}

TEST(ReversibleGuard, LongEulerWalkOnADampedSpiralIsRepaired) {
  // Before the guard, the memory test's reversible:euler case (10^5 steps, λ = 0.999) returned
  // a gradient wrong by 1e31 with no warning: the inverse amplifies round-off by ~1/λ a step.
  LinearField<double> f(2);
  const Vector<double> theta = f.default_params();
  Batch<double> y0(2, 1);
  y0 << 1.0, -0.5;
  MseZero<double> loss;
  const auto stepper = make_stepper<double>("reversible:euler", {.coupling = 0.999});
  const GradientProblem<double> p{
      f, *stepper, FixedSteps{100000}, SaveAt::linspace(0, 1, 3), 0.0, 1.0, y0, theta, loss};
  const auto reference = DirectBackprop<double>().compute(p);
  const auto warned = reversible(p, GuardPolicy::warn);
  const auto repaired = reversible(p, GuardPolicy::repair);
  EXPECT_GT(relative_error(warned.grad_params, reference.grad_params), 1.0);
  EXPECT_LE(relative_error(repaired.grad_params, reference.grad_params), 1e-10);
  EXPECT_TRUE(repaired.stats.guard.repaired);
  // Anchors, not every state: far below backprop's memory.
  EXPECT_LT(repaired.stats.stored_floats, reference.stats.stored_floats / 10);
}

TEST(ReversibleGuard, ExplicitToleranceAndPolicyNames) {
  EXPECT_EQ(parse_guard_policy("repair"), GuardPolicy::repair);
  EXPECT_EQ(parse_guard_policy("error"), GuardPolicy::error);
  EXPECT_EQ(parse_guard_policy("warn"), GuardPolicy::warn);
  EXPECT_THROW(parse_guard_policy("ignore"), Error);
  EXPECT_THROW(ReversibleBackprop<double>(ReversibleGuard{.tolerance = -1}), Error);
  EXPECT_THROW(ReversibleBackprop<double>(ReversibleGuard{.tolerance = 2}), Error);
  EXPECT_THROW(ReversibleBackprop<double>(ReversibleGuard{.tolerance = std::nan("")}), Error);
  EXPECT_DOUBLE_EQ(ReversibleGuard{}.tolerance_for<double>(), 1e-10);
  EXPECT_DOUBLE_EQ(ReversibleGuard{}.tolerance_for<float>(), 1e-4);
  // A looser tolerance accepts a walk the default repairs.
  const DriftCase c = drifting_cases()[2];
  const DriftProblem<double> s(c);
  const auto p = s.problem(c);
  const auto loose = ReversibleBackprop<double>(ReversibleGuard{.tolerance = 0.5}).compute(p);
  EXPECT_FALSE(loose.stats.guard.repaired);
  EXPECT_DOUBLE_EQ(loose.stats.guard.tolerance, 0.5);
}

TEST(ReversibleGuard, SegmentLengthFollowsTheGrowthRate) {
  const double eps = 2.220446049250313e-16, tol = 1024 * eps;
  // Drift 1e-6 after 1000 steps: ρ^1000 = 1e-6/ε, so ε ρ^K = √(tol ε) at
  // K = ½ ln(1024) · 1000 / ln(1e-6/ε) ≈ 155.9.
  EXPECT_EQ(guard_segment_length(1e-6, tol, eps, 1000), 155);
  EXPECT_EQ(guard_segment_length(std::numeric_limits<double>::infinity(), tol, eps, 100), 1);
  EXPECT_EQ(guard_segment_length(0.0, tol, eps, 100), 100);
  EXPECT_GE(guard_crossing_step(1e-6, tol, eps, 1000), 300);
  EXPECT_LE(guard_crossing_step(1e-6, tol, eps, 1000), 320);
}

TEST(ReversibleGuard, OverflowedWalksGetSegmentsFromTheLargestDouble) {
  // A walk that overflowed grew at least as fast as one that reached the largest double M:
  // ln ρ = (ln M − ln ε) / N. Over N = 2000 steps with tolerance 1e-10 that gives segments of
  // K = ½ ln(1e-10/ε) / ln ρ ≈ 17.45 steps and a crossing ≈ 34.9 steps back. (M/ε itself
  // overflows: computed that way, every overflowed walk got K = 1, an anchor per step, and a
  // crossing "1 of N steps back".)
  const double eps = std::numeric_limits<double>::epsilon(), tol = 1e-10;
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(guard_segment_length(inf, tol, eps, 2000), 17);
  EXPECT_EQ(guard_crossing_step(inf, tol, eps, 2000), 35);
  // The bound is a floor on the growth: a finite drift near M gives the same segments.
  EXPECT_EQ(guard_segment_length(1e308, tol, eps, 2000), 17);
  // float32's ε and tolerance, as the float walks see them.
  const double eps32 = std::numeric_limits<float>::epsilon();
  EXPECT_GT(guard_segment_length(inf, 1e-4, eps32, 2000), 1);
}

}  // namespace
}  // namespace revode
