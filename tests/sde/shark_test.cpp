// ShARK (shark.hpp) on additive-noise SDEs: every exact gradient method against direct
// backprop through the same discretisation and Brownian sample (≤ 1e-10, float64), backprop
// against central finite differences with the noise fixed, strong order 1.5 on
// Ornstein–Uhlenbeck driven by the same Brownian path (and Lévy area) at every step size,
// adaptive steps from the embedded estimate (converging as the tolerance tightens; exact
// gradients with rejections), and the named refusals (other noise types, a tree without Lévy
// area).
#include "revode/sde/shark.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "revode/gradients/direct_backprop.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/sde/drift_diffusion.hpp"
#include "revode/sde/sde_steppers.hpp"
#include "revode/solvers/integrate.hpp"
#include "support/finite_difference.hpp"
#include "support/sde_cases.hpp"

namespace revode {
namespace {

using testing::central_differences;
using testing::message_of;
using testing::relative_error;

std::shared_ptr<const BrownianTree> area_tree(double t1, Index m, std::int64_t seed) {
  return std::make_shared<const BrownianTree>(0.0, t1, m, seed, 0x1p-40, LevyArea::space_time);
}

/// MLP drift 2 → 8 → 2 and a constant 2 × 3 diffusion, θ = [θ_f; θ_g].
struct NeuralAdditiveSde {
  explicit NeuralAdditiveSde(Index batch) {
    DiffusionBuild<double> g = make_diffusion<double>("const:0.3,-0.2,0.1,0.4,0.25,-0.1",
                                                      NoiseType::additive, 2, Activation::tanh, 3);
    auto drift = std::make_unique<Mlp<double>>(parse_mlp_spec("2,8,2"));
    const Vector<double> theta_f = drift->init_params(Init::pytorch_default, 7);
    theta.resize(theta_f.size() + g.default_params.size());
    theta << theta_f, 0.5 * g.default_params;
    field = std::make_unique<DriftDiffusion<double>>(std::move(drift), std::move(g.diffusion),
                                                     NoiseType::additive, g.noise_dim);
    brownian = area_tree(1.0, g.noise_dim, 99);
    y0 = Batch<double>::Random(2, batch);
  }
  std::unique_ptr<DriftDiffusion<double>> field;
  std::shared_ptr<const BrownianTree> brownian;
  Vector<double> theta;
  Batch<double> y0;
};

TEST(Shark, EveryExactMethodMatchesBackprop) {
  const NeuralAdditiveSde sde(3);
  const auto stepper = make_sde_stepper<double>("shark", {}, sde.brownian, *sde.field);
  MseZero<double> loss;
  for (const SaveAt& save : {SaveAt::final_time(1.0), SaveAt::linspace(0.0, 1.0, 4)}) {
    const GradientProblem<double> p{*sde.field, *stepper, FixedSteps{10}, save, 0.0,
                                    1.0,        sde.y0,   sde.theta,      loss};
    const GradientResult<double> reference = DirectBackprop<double>().compute(p);
    ASSERT_TRUE(reference.grad_params.allFinite());
    ASSERT_GT(reference.grad_params.tail(6).norm(), 0.0) << "σ must get a gradient";
    testing::expect_methods_match_backprop(
        p, reference, std::vector<std::string>{"anode", "checkpoint:3", "checkpoint:1"});
  }
}

TEST(Shark, BackpropMatchesFiniteDifferencesWithTheNoiseFixed) {
  const NeuralAdditiveSde sde(2);
  const auto stepper = make_sde_stepper<double>("shark", {}, sde.brownian, *sde.field);
  MseZero<double> loss;
  const GradientProblem<double> p{*sde.field, *stepper, FixedSteps{6}, SaveAt::linspace(0, 1, 3),
                                  0.0,        1.0,      sde.y0,        sde.theta,
                                  loss};
  testing::expect_backprop_matches_finite_differences(p);
}

// Ornstein–Uhlenbeck dy = A y dt + S dW (A = diag(μ)), y_i(T) = e^{μ_i T} y0_i +
// Σ_j S_ij (W_j(T) + μ_i ∫_0^T e^{μ_i (T − r)} W_j(r) dr). The integral is summed over 2^11
// intervals [s, t] of length δ, each exactly ∫_s^t W = δ (W_s + W_t)/2 + δ H_{s,t} (the area
// is what the trapezoid rule misses), weighted by e^{μ (T − r)} at the interval's midpoint:
// an error of O(δ²), far below the solver's at 128 steps.
constexpr Index kPaths = 256;
// σ = 1.2, −0.8, 0.4, … against a tanh MLP drift: with σ four times smaller the O(h²) terms
// still dominate at these steps (measured slopes 1.82, 1.63, 1.57, 1.55, 1.52, 1.49 for σ
// scaled by 2, 4, 6, 8, 12, 16).
constexpr double kNoiseScale = 8.0;
constexpr double kT = 1.0;

Batch<double> initial_state() { return Vector<double>{{1.0, 0.8}}.replicate(1, kPaths); }

Batch<double> exact_ou(const testing::LinearSde& s, const BrownianTree& w) {
  const Index m = s.noise_dim;
  const int n = 1 << 11;
  const double delta = kT / n;
  Batch<double> integral = Batch<double>::Zero(2 * m, kPaths), w_s = Batch<double>::Zero(m, kPaths);
  Batch<double> dw(m, kPaths), area(m, kPaths);
  for (int k = 0; k < n; ++k) {
    w.increment_with_area(k * delta, (k + 1) * delta, dw, area);
    const Batch<double> piece = delta * (w_s + 0.5 * dw + area);
    for (Index i = 0; i < 2; ++i)
      integral.middleRows(i * m, m) += std::exp(s.mu[i] * (kT - (k + 0.5) * delta)) * piece;
    w_s += dw;
  }
  const Batch<double> y0 = initial_state();
  Batch<double> y(2, kPaths);
  for (Index i = 0; i < 2; ++i) {
    y.row(i) = std::exp(s.mu[i] * kT) * y0.row(i);
    for (Index j = 0; j < m; ++j)
      y.row(i) += s.sigma[i + 2 * j] * (w_s.row(j) + s.mu[i] * integral.row(i * m + j));
  }
  return y;
}

template <class Sde>
double slope_of(const std::string& solver, const Sde& s,
                const std::shared_ptr<const BrownianTree>& w, const Batch<double>& reference,
                std::string& errors, const Vector<double>& theta) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int n = 0;
  for (Index steps = 8; steps <= 128; steps *= 2, ++n) {
    const auto stepper = make_sde_stepper<double>(solver, {}, w, *s.field);
    const Solution<double> out =
        solve<double>(*s.field, *stepper, FixedSteps{steps}, SaveAt::final_time(kT), 0.0, kT,
                      initial_state(), theta);
    const double e = (out.ys.back() - reference).colwise().norm().mean();
    errors += fmt::format(" {}:{:.3g}", steps, e);
    const double x = std::log(kT / double(steps)), y = std::log(e);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

// On OU the drift is linear, so the terms that limit ShARK to order 1.5 (f''(y)[g, g] times
// ∫(W_r − W_s)² dr, whose part beyond W and H is a mean-zero O(h²) per step) vanish, and what
// is left is O(h²): the drift's order and the space-time-time area ∫∫(W − W_s) that ShARK does
// not see (mean zero, O(h^2.5) per step). The measured slope is 2.
TEST(Shark, StrongOrderIsTwoOnOrnsteinUhlenbeckWhereTheDriftIsLinear) {
  const testing::LinearSde s = testing::make_linear_sde(NoiseType::additive);
  const auto w = area_tree(kT, s.noise_dim, 2024);
  const Batch<double> reference = exact_ou(s, *w);
  std::string errors;
  const double slope = slope_of("shark", s, w, reference, errors, s.theta);
  RecordProperty("slope", fmt::format("{:.3f}", slope));
  EXPECT_NEAR(slope, 2.0, 0.15) << "errors" << errors;
  // The same path through Heun (which ignores H) has order 1: the reference sees the area.
  std::string heun_errors;
  EXPECT_NEAR(slope_of("heun", s, w, reference, heun_errors, s.theta), 1.0, 0.15) << heun_errors;
}

// A nonlinear drift (a tanh MLP) with additive noise: order 1.5, against ShARK itself at 2^11
// steps on the same Brownian path (its own error there is ~1/45 of the finest one measured).
TEST(Shark, StrongOrderIsOneAndAHalfForANonlinearDrift) {
  NeuralAdditiveSde sde(1);
  sde.theta.tail(6) *= kNoiseScale;
  const auto w = area_tree(kT, sde.field->noise_dim(), 2025);
  const auto fine = make_sde_stepper<double>("shark", {}, w, *sde.field);
  const Batch<double> reference =
      solve<double>(*sde.field, *fine, FixedSteps{1 << 11}, SaveAt::final_time(kT), 0.0, kT,
                    initial_state(), sde.theta)
          .ys.back();
  std::string errors;
  const double slope = slope_of("shark", sde, w, reference, errors, sde.theta);
  RecordProperty("slope", fmt::format("{:.3f}", slope));
  EXPECT_NEAR(slope, 1.5, 0.15) << "errors" << errors;
}

// Adaptive ShARK (the embedded estimate (3/5) h (k2 − k1), shark.hpp) on the same
// Ornstein–Uhlenbeck paths: the strong error at t = 1 against the closed form falls as
// rtol = atol tightens. A zero or blind estimate would leave the steps at their largest, and
// the error where it was.
TEST(SharkAdaptive, StrongErrorFallsWithTheTolerance) {
  const testing::LinearSde s = testing::make_linear_sde(NoiseType::additive);
  const auto w = area_tree(kT, s.noise_dim, 2026);
  const Batch<double> reference = exact_ou(s, *w);
  const auto stepper = make_sde_stepper<double>("shark", {}, w, *s.field);
  std::string trace;
  double previous = 0, first = 0;
  Index previous_steps = 0;
  for (const double tol : {1e-1, 1e-2, 1e-3, 1e-4}) {
    const Solution<double> out =
        solve<double>(*s.field, *stepper, AdaptiveSteps{.rtol = tol, .atol = tol},
                      SaveAt::final_time(kT), 0.0, kT, initial_state(), s.theta);
    const double e = (out.ys.back() - reference).colwise().norm().mean();
    trace += fmt::format(" {}: {:.3g} ({}/{})", tol, e, out.stats.steps, out.stats.rejected);
    if (previous_steps > 0) {
      EXPECT_LT(e, previous) << "at rtol = atol = " << tol << ";" << trace;
      EXPECT_GT(out.stats.steps, previous_steps) << trace;
    } else {
      first = e;
    }
    previous = e, previous_steps = out.stats.steps;
  }
  RecordProperty("error_by_tolerance", trace);
  EXPECT_LT(previous, 0.02 * first) << trace;
}

// Every exact method replays the accepted steps of an adaptive ShARK solve (StepSequence) with
// the same W and H from the tree: equal to direct backprop, with rejected steps in the solve.
TEST(SharkAdaptive, EveryExactMethodMatchesBackpropWithRejections) {
  NeuralAdditiveSde sde(3);
  sde.theta.tail(6) *= kNoiseScale;  // σ ≈ 1: the estimate's noise term rejects steps
  const auto stepper = make_sde_stepper<double>("shark", {}, sde.brownian, *sde.field);
  MseZero<double> loss;
  SaveAt save;
  save.ts = {0.37, 1.0};  // off any grid: the controller's steps land on it
  const GradientProblem<double> p{*sde.field, *stepper,  AdaptiveSteps{.rtol = 1e-4, .atol = 1e-4},
                                  save,       0.0,       1.0,
                                  sde.y0,     sde.theta, loss};
  const GradientResult<double> reference = DirectBackprop<double>().compute(p);
  ASSERT_TRUE(reference.grad_params.allFinite());
  ASSERT_GT(reference.stats.steps, 5) << "the test needs several adaptive steps";
  RecordProperty("steps", fmt::format("{}/{}", reference.stats.steps, reference.stats.rejected));
  ASSERT_GT(reference.stats.rejected, 0) << "the test needs rejected steps";
  ASSERT_GT(reference.grad_params.tail(6).norm(), 0.0) << "σ must get a gradient";
  testing::expect_methods_match_backprop(
      p, reference, std::vector<std::string>{"anode", "checkpoint:3", "checkpoint:1"});
}

// As the other SDE steppers: a step below 2^10 of the tree's finest interval is refused by name
// (a tree of tolerance 2^-12 resolves steps of 2^-2, not 1/8).
TEST(Shark, StepsFinerThanTheBrownianTreeAreRefused) {
  const testing::LinearSde s = testing::make_linear_sde(NoiseType::additive);
  const auto coarse =
      std::make_shared<const BrownianTree>(0.0, 1.0, s.noise_dim, 0, 0x1p-12, LevyArea::space_time);
  const auto stepper = make_sde_stepper<double>("shark", {}, coarse, *s.field);
  EXPECT_NO_THROW(solve<double>(*s.field, *stepper, FixedSteps{4}, SaveAt::final_time(1.0), 0.0,
                                1.0, Batch<double>::Ones(2, 1), s.theta));
  const std::string m = message_of([&] {
    solve<double>(*s.field, *stepper, FixedSteps{8}, SaveAt::final_time(1.0), 0.0, 1.0,
                  Batch<double>::Ones(2, 1), s.theta);
  });
  EXPECT_NE(m.find("shark (SDE): SDE step dt = 0.125 at t = 0 is below what the Brownian tree "
                   "resolves"),
            std::string::npos)
      << m;
}

TEST(Shark, OtherNoiseTypesAndTreesWithoutAreaAreRefusedByName) {
  for (NoiseType noise : {NoiseType::diagonal, NoiseType::scalar, NoiseType::general}) {
    const testing::LinearSde s = testing::make_linear_sde(noise);
    const std::string message = message_of(
        [&] { make_sde_stepper<double>("shark", {}, area_tree(1.0, s.noise_dim, 1), *s.field); });
    EXPECT_NE(message.find("'shark'"), std::string::npos) << message;
    EXPECT_NE(message.find("additive"), std::string::npos) << message;
    EXPECT_NE(message.find(noise_type_name(noise)), std::string::npos) << message;
  }
  const testing::LinearSde s = testing::make_linear_sde(NoiseType::additive);
  const std::string message = message_of([&] {
    make_sde_stepper<double>("shark", {}, std::make_shared<BrownianTree>(0, 1, s.noise_dim, 0),
                             *s.field);
  });
  EXPECT_NE(message.find("space-time Lévy area"), std::string::npos) << message;
  EXPECT_EQ(sde_solver_levy_area("shark"), LevyArea::space_time);
  EXPECT_EQ(sde_solver_levy_area("heun"), LevyArea::none);
}

}  // namespace
}  // namespace revode
