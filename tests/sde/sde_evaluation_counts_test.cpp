// Diffusion evaluations in the statistics (docs/sde.md "Statistics"): for an SDE, nfe and nvjp
// count evaluations and VJPs of the SDE's vector fields, each one drift call paired with one
// diffusion call (FrozenNoiseField, reversible Heun's f̂/ĝ), so the diffusion is called exactly
// nfe times and its VJP nvjp times, except the two drift-only evaluations of an adaptive solve's
// first-step heuristic (f(t0, y0) and one probe; none when dt0 is given). Checked here with a
// diffusion that counts its own calls, over solvers × step controls × gradient methods.
#include <gtest/gtest.h>

#include "revode/gradients/registry.hpp"
#include "revode/sde/sde_steppers.hpp"
#include "revode/sde/shark.hpp"
#include "support/sde_cases.hpp"

namespace revode {
namespace {

/// An SdeField that forwards to another and counts diffusion calls.
class CountedDiffusion final : public SdeField<double> {
 public:
  explicit CountedDiffusion(const SdeField<double>& inner) : inner_(inner) {}
  Index state_dim() const override { return inner_.state_dim(); }
  Index param_count() const override { return inner_.param_count(); }
  std::string name() const override { return inner_.name(); }
  NoiseType noise_type() const override { return inner_.noise_type(); }
  Index noise_dim() const override { return inner_.noise_dim(); }
  void eval(double t, const ConstBatchRef<double>& y, const ConstVectorRef<double>& theta,
            BatchRef<double> dy) const override {
    inner_.eval(t, y, theta, dy);
  }
  void vjp(double t, const ConstBatchRef<double>& y, const ConstVectorRef<double>& theta,
           const ConstBatchRef<double>& a, BatchRef<double> y_bar,
           VectorRef<double> theta_bar) const override {
    inner_.vjp(t, y, theta, a, y_bar, theta_bar);
  }
  void diffusion(double t, const ConstBatchRef<double>& y, const ConstVectorRef<double>& theta,
                 BatchRef<double> g) const override {
    ++evaluations;
    inner_.diffusion(t, y, theta, g);
  }
  void diffusion_vjp(double t, const ConstBatchRef<double>& y, const ConstVectorRef<double>& theta,
                     const ConstBatchRef<double>& g_bar, BatchRef<double> y_bar,
                     VectorRef<double> theta_bar) const override {
    ++vjps;
    inner_.diffusion_vjp(t, y, theta, g_bar, y_bar, theta_bar);
  }
  std::unique_ptr<VectorField<double>> clone() const override { return inner_.clone(); }

  mutable Index evaluations = 0, vjps = 0;

 private:
  const SdeField<double>& inner_;
};

TEST(SdeEvaluationCounts, EveryDriftCallIsPairedWithOneDiffusionCall) {
  const testing::LinearSde s = testing::make_linear_sde(NoiseType::diagonal);
  const auto w = std::make_shared<const BrownianTree>(0.0, 1.0, s.noise_dim, 5);
  const Batch<double> y0 = Batch<double>::Ones(2, 3);
  MseZero<double> loss;
  for (const char* solver : {"euler", "heun", "reversible-heun", "reversible:heun"}) {
    const bool reversible = std::string(solver).starts_with("reversible");
    for (const bool adaptive : {false, true}) {
      if (adaptive && std::string(solver) == "euler") continue;
      const StepControl control = adaptive ? StepControl(AdaptiveSteps{.rtol = 1e-2, .atol = 1e-2})
                                           : StepControl(FixedSteps{7});
      const Index drift_only = adaptive ? 2 : 0;
      std::vector<std::string> methods{"backprop", "anode", "checkpoint:2"};
      if (reversible) methods.push_back("reversible");
      for (const std::string& method : methods) {
        const CountedDiffusion field(*s.field);
        const auto stepper = make_sde_stepper<double>(solver, {}, w, field);
        const GradientProblem<double> p{
            field, *stepper, control, SaveAt::linspace(0, 1, 3), 0.0, 1.0, y0, s.theta, loss};
        const GradientResult<double> r = make_gradient_method<double>(method)->compute(p);
        const std::string what =
            fmt::format("{} {} {}", solver, adaptive ? "adaptive" : "fixed", method);
        ASSERT_GT(r.stats.nfe, 0) << what;
        EXPECT_EQ(field.evaluations + drift_only, r.stats.nfe) << what;
        EXPECT_EQ(field.vjps, r.stats.nvjp) << what;
      }
    }
  }
}

// ShARK has no pairing (shark.hpp): a step evaluates the drift twice and the diffusion once; a
// step VJP recomputes the stages (the diffusion and k1 once each) and takes two drift VJPs and
// one diffusion VJP. Hence 2 × diffusion calls = nfe − drift_only + nvjp/2 and 2 × diffusion
// VJPs = nvjp, fixed and adaptive (drift_only as above).
TEST(SdeEvaluationCounts, SharkEvaluatesTheDiffusionOncePerStep) {
  const testing::LinearSde s = testing::make_linear_sde(NoiseType::additive);
  const auto w =
      std::make_shared<const BrownianTree>(0.0, 1.0, s.noise_dim, 5, 0x1p-40, LevyArea::space_time);
  const Batch<double> y0 = Batch<double>::Ones(2, 3);
  MseZero<double> loss;
  for (const bool adaptive : {false, true}) {
    const StepControl control = adaptive ? StepControl(AdaptiveSteps{.rtol = 1e-3, .atol = 1e-3})
                                         : StepControl(FixedSteps{7});
    const Index drift_only = adaptive ? 2 : 0;
    for (const std::string method : {"backprop", "anode", "checkpoint:2"}) {
      const CountedDiffusion field(*s.field);
      const auto stepper = make_sde_stepper<double>("shark", {}, w, field);
      const GradientProblem<double> p{field, *stepper, control, SaveAt::linspace(0, 1, 3), 0.0, 1.0,
                                      y0,    s.theta,  loss};
      const GradientResult<double> r = make_gradient_method<double>(method)->compute(p);
      const std::string what = fmt::format("shark {} {}", adaptive ? "adaptive" : "fixed", method);
      ASSERT_GT(r.stats.nfe, 0) << what;
      EXPECT_EQ(2 * field.evaluations, r.stats.nfe - drift_only + r.stats.nvjp / 2) << what;
      EXPECT_EQ(2 * field.vjps, r.stats.nvjp) << what;
    }
  }
}

}  // namespace
}  // namespace revode
