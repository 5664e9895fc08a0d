// Adaptive SDE steps (docs/sde.md "Steps"): the solvers with an embedded error estimate converge
// as the tolerance tightens (strong error at t = 1 and at a save time off any grid, one fixed
// Brownian sample, against the closed forms of geometric Brownian motion and
// Ornstein–Uhlenbeck); save times anywhere with fixed steps too; solvers without an estimate
// that sees the noise are refused by name; a step finer than the Brownian tree resolves is
// refused.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "revode/nn/mlp.hpp"
#include "revode/sde/drift_diffusion.hpp"
#include "revode/sde/sde_steppers.hpp"
#include "revode/solvers/integrate.hpp"
#include "support/sde_cases.hpp"

namespace revode {
namespace {

using testing::exact_linear_sde;
using testing::LinearSde;
using testing::make_linear_sde;
using testing::message_of;

constexpr Index kPaths = 64;
constexpr double kSaveTime = 0.37;  // off every dyadic grid

Batch<double> initial_state() { return Vector<double>{{1.0, 0.8}}.replicate(1, kPaths); }

struct Errors {
  double at_save = 0, at_end = 0;
  Index steps = 0, rejected = 0;
};

/// y_exact at kSaveTime and at t = 1 on each path (the Ornstein–Uhlenbeck one costs a
/// quadrature per path: computed once per test).
struct Exact {
  Exact(const LinearSde& s, const BrownianTree& w, bool ito)
      : at_save(exact_linear_sde(s, w, kSaveTime, initial_state(), ito)),
        at_end(exact_linear_sde(s, w, 1.0, initial_state(), ito)) {}
  Batch<double> at_save, at_end;
};

/// Mean over the paths of |y − y_exact| at kSaveTime and at t = 1.
Errors strong_errors(const std::string& solver, const LinearSde& s,
                     const std::shared_ptr<const BrownianTree>& w, const StepControl& control,
                     const Exact& exact) {
  const auto stepper = make_sde_stepper<double>(solver, {}, w, *s.field);
  SaveAt save;
  save.ts = {kSaveTime, 1.0};
  const Solution<double> out =
      solve<double>(*s.field, *stepper, control, save, 0.0, 1.0, initial_state(), s.theta);
  EXPECT_EQ(out.ts[0], kSaveTime);
  const auto error = [](const Batch<double>& y, const Batch<double>& reference) {
    return (y - reference).colwise().norm().mean();
  };
  return {error(out.ys[0], exact.at_save), error(out.ys[1], exact.at_end), out.stats.steps,
          out.stats.rejected};
}

struct AdaptiveCase {
  std::string solver;
  NoiseType noise;
};

class SdeAdaptive : public ::testing::TestWithParam<AdaptiveCase> {};

TEST_P(SdeAdaptive, StrongErrorFallsWithTheTolerance) {
  const AdaptiveCase& c = GetParam();
  const LinearSde s = make_linear_sde(c.noise);
  const auto w = std::make_shared<const BrownianTree>(0.0, 1.0, s.noise_dim, 77);
  // The same path for every solver, so the reference is computed once per noise type.
  static std::map<NoiseType, Exact> references;
  if (!references.contains(c.noise)) references.emplace(c.noise, Exact(s, *w, false));
  const Exact& exact = references.at(c.noise);
  std::vector<Errors> e;
  std::string log;
  for (double tol : {1e-1, 1e-2, 1e-3}) {
    e.push_back(strong_errors(c.solver, s, w, AdaptiveSteps{.rtol = tol, .atol = tol}, exact));
    log += fmt::format(" tol {}: {:.3g} at {}, {:.3g} at 1 ({} steps, {} rejected);", tol,
                       e.back().at_save, kSaveTime, e.back().at_end, e.back().steps,
                       e.back().rejected);
  }
  RecordProperty("errors", log);
  for (std::size_t k = 1; k < e.size(); ++k) {
    EXPECT_LT(e[k].at_end, e[k - 1].at_end) << log;
    EXPECT_LT(e[k].at_save, e[k - 1].at_save) << log;
    EXPECT_GT(e[k].steps, e[k - 1].steps) << log;
  }
  // 100× tighter: the error falls at least 5-fold (orders 1 here, so about 100^(2/3) ≈ 20).
  EXPECT_LT(e.back().at_end, 0.2 * e.front().at_end) << log;
  EXPECT_LT(e.back().at_save, 0.2 * e.front().at_save) << log;
  // With y-dependent noise steps were rejected and did no harm (the retried step's W is the
  // same path's).
  Index rejected = 0;
  for (const Errors& x : e) rejected += x.rejected;
  if (c.noise != NoiseType::additive) {
    EXPECT_GT(rejected, 0) << log;
  }
}

std::vector<AdaptiveCase> adaptive_cases() {
  std::vector<AdaptiveCase> cases;
  for (const char* solver : {"heun", "midpoint", "reversible-heun", "reversible:heun"})
    for (NoiseType noise : {NoiseType::diagonal, NoiseType::additive})
      cases.push_back({solver, noise});
  return cases;
}

std::string adaptive_case_name(const ::testing::TestParamInfo<AdaptiveCase>& info) {
  return testing::sde_case_name(info.param.solver, info.param.noise);
}

INSTANTIATE_TEST_SUITE_P(SdeSolvers, SdeAdaptive, ::testing::ValuesIn(adaptive_cases()),
                         adaptive_case_name);

// Fixed steps land on a save time off the grid too (the grid is split there, and the tree
// answers W(0.37) exactly to its tolerance): the error there falls at the solver's order.
TEST(SdeSaveTimes, FixedStepsConvergeAtASaveTimeOffTheGrid) {
  const LinearSde s = make_linear_sde(NoiseType::diagonal);
  const auto w = std::make_shared<const BrownianTree>(0.0, 1.0, s.noise_dim, 78);
  for (const char* solver : {"euler", "heun", "reversible-heun"}) {
    const bool ito = std::string(solver) == "euler";
    const Exact exact(s, *w, ito);
    const double coarse = strong_errors(solver, s, w, FixedSteps{16}, exact).at_save;
    const double fine = strong_errors(solver, s, w, FixedSteps{256}, exact).at_save;
    // 16× finer: order 0.5 gives 4×, order 1 gives 16×.
    EXPECT_LT(fine, (ito ? 0.4 : 0.15) * coarse) << solver << ": " << coarse << " → " << fine;
  }
}

TEST(SdeAdaptiveErrors, SolversWithoutAnEstimateAreRefusedByName) {
  const LinearSde s = make_linear_sde(NoiseType::scalar);
  const auto w = std::make_shared<const BrownianTree>(0.0, 1.0, 1, 0);
  // No embedded pair, or one blind to the noise (sde_error_estimate).
  for (const char* solver :
       {"euler", "rk4", "bosh3", "dopri5", "fehlberg2", "reversible:rk4", "reversible:bosh3"}) {
    const auto stepper = make_sde_stepper<double>(solver, {}, w, *s.field);
    EXPECT_EQ(stepper->error_order(), 0) << solver;
    const std::string m = message_of([&] {
      solve<double>(*s.field, *stepper, AdaptiveSteps{}, SaveAt::final_time(1.0), 0.0, 1.0,
                    Batch<double>::Ones(2, 1), s.theta);
    });
    EXPECT_NE(m.find("has no embedded error estimate"), std::string::npos) << solver << ": " << m;
    EXPECT_NE(m.find("use e.g. heun, midpoint, ralston2, reversible-heun or reversible:heun"),
              std::string::npos)
        << solver << ": " << m;
  }
  for (const char* solver : {"heun", "midpoint", "ralston2", "reversible-heun", "reversible:heun",
                             "reversible:midpoint"})
    EXPECT_EQ(make_sde_stepper<double>(solver, {}, w, *s.field)->error_order(), 1) << solver;
}

// A finite g whose g ΔW/h overflows makes every attempt NaN/Inf: the rejections shrink the step
// down to the tree's resolution, and the error names the non-finite state (as fixed steps do),
// not the tolerance ("loosen rtol/atol" would not help).
TEST(SdeAdaptiveErrors, NonFiniteStatesAreNamedNotTheTreeResolution) {
  LinearSde s = make_linear_sde(NoiseType::additive);
  s.theta.tail(s.sigma.size()).setConstant(1e308);
  const auto w = std::make_shared<const BrownianTree>(0.0, 1.0, s.noise_dim, 0);
  for (const char* solver : {"heun", "reversible-heun", "reversible:heun"}) {
    const auto stepper = make_sde_stepper<double>(solver, {}, w, *s.field);
    const std::string m = message_of([&] {
      solve<double>(*s.field, *stepper, AdaptiveSteps{.rtol = 1e-3, .atol = 1e-3},
                    SaveAt::final_time(1.0), 0.0, 1.0, Batch<double>::Ones(2, 1), s.theta);
    });
    EXPECT_NE(m.find("the state became NaN or Inf"), std::string::npos) << solver << ": " << m;
    EXPECT_NE(m.find("every retry was NaN or Inf"), std::string::npos) << solver << ": " << m;
  }
}

// In float32 a save time 1e-8 past a grid node (beyond the grid's snapping distance in double)
// rounds onto the node: a step of zero length, named as such rather than as a backward step.
TEST(SdeAdaptiveErrors, ZeroLengthStepsInFloat32AreNamed) {
  MlpSpec spec = parse_mlp_spec("2,8,2");
  auto drift = std::make_unique<Mlp<float>>(spec);
  const Vector<float> theta_f = drift->init_params(Init::pytorch_default, 1);
  DiffusionBuild<float> g =
      make_diffusion<float>("const:0.1", NoiseType::diagonal, 2, Activation::tanh, 0);
  Vector<float> theta(theta_f.size() + g.default_params.size());
  theta << theta_f, g.default_params;
  const DriftDiffusion<float> field(std::move(drift), std::move(g.diffusion), NoiseType::diagonal,
                                    g.noise_dim);
  const auto w = std::make_shared<const BrownianTree>(0.0, 1.0, g.noise_dim, 0);
  SaveAt save;
  save.ts = {0.37000001, 1.0};
  for (const char* solver : {"heun", "reversible-heun", "reversible:heun"}) {
    const auto stepper = make_sde_stepper<float>(solver, {}, w, field);
    const std::string m = message_of([&] {
      solve<float>(field, *stepper, FixedSteps{100}, save, 0.0, 1.0, Batch<float>::Ones(2, 1),
                   theta);
    });
    EXPECT_NE(m.find("an SDE step of zero length at t = 0.37"), std::string::npos)
        << solver << ": " << m;
    EXPECT_EQ(m.find("go forward in time"), std::string::npos) << solver << ": " << m;
  }
}

// Tolerances near the smallest doubles: the first-step heuristic's weighted norms would
// overflow when squared (h0 = NaN, reported as "f is not finite near y0"); the solve instead
// shrinks its steps to the tree's resolution and says to loosen the tolerances. The same
// problem as an ODE (the drift alone) stops with a step-size or step-count error.
TEST(SdeAdaptiveErrors, TinyTolerancesAreNamedNotANonFiniteField) {
  const LinearSde s = make_linear_sde(NoiseType::diagonal);
  const auto w = std::make_shared<const BrownianTree>(0.0, 1.0, s.noise_dim, 0);
  const AdaptiveSteps tiny{.rtol = 1e-300, .atol = 1e-300};
  const auto stepper = make_sde_stepper<double>("heun", {}, w, *s.field);
  const std::string m = message_of([&] {
    solve<double>(*s.field, *stepper, tiny, SaveAt::final_time(1.0), 0.0, 1.0,
                  Batch<double>::Ones(2, 1), s.theta);
  });
  EXPECT_NE(m.find("below what the Brownian tree resolves"), std::string::npos) << m;
  EXPECT_NE(m.find("loosen rtol/atol"), std::string::npos) << m;
  const auto ode_stepper = make_stepper<double>("heun", {});
  const std::string ode = message_of([&] {
    solve<double>(*s.field, *ode_stepper, tiny, SaveAt::final_time(1.0), 0.0, 1.0,
                  Batch<double>::Ones(2, 1), s.theta);
  });
  EXPECT_EQ(ode.find("not finite"), std::string::npos) << ode;
  EXPECT_NE(ode.find("solve failed at t = "), std::string::npos) << ode;
}

// Below the tree's finest interval δ the path is linear, so a step must be ≥ 2^10 δ: a tree
// of tolerance 2^-12 resolves steps of 2^-2 and longer, and refuses 8 steps of 1/8 by name.
TEST(SdeAdaptiveErrors, StepsFinerThanTheBrownianTreeAreRefused) {
  const LinearSde s = make_linear_sde(NoiseType::diagonal);
  const auto coarse = std::make_shared<const BrownianTree>(0.0, 1.0, 2, 0, 0x1p-12);
  for (const char* solver : {"heun", "reversible-heun", "reversible:heun"}) {
    const auto stepper = make_sde_stepper<double>(solver, {}, coarse, *s.field);
    EXPECT_NO_THROW(solve<double>(*s.field, *stepper, FixedSteps{4}, SaveAt::final_time(1.0), 0.0,
                                  1.0, Batch<double>::Ones(2, 1), s.theta));
    const std::string m = message_of([&] {
      solve<double>(*s.field, *stepper, FixedSteps{8}, SaveAt::final_time(1.0), 0.0, 1.0,
                    Batch<double>::Ones(2, 1), s.theta);
    });
    EXPECT_NE(m.find("SDE step dt = 0.125 at t = 0 is below what the Brownian tree resolves"),
              std::string::npos)
        << solver << ": " << m;
    EXPECT_NE(m.find("required: dt >= 0.25"), std::string::npos) << solver << ": " << m;
    // dtmin would only stop the solve with another message (and revode train has none).
    EXPECT_NE(m.find("adaptive steps: loosen rtol/atol; fixed steps: take fewer"),
              std::string::npos)
        << m;
  }
  // The default tree (2^-40) resolves steps down to 2^-30 of its span.
  const auto fine = std::make_shared<const BrownianTree>(0.0, 1.0, 2, 0);
  EXPECT_NO_THROW(require_resolved_step(*fine, 0.5, 0.5 + 0x1p-30, "heun"));
  EXPECT_THROW(require_resolved_step(*fine, 0.5, 0.5 + 0x1p-31, "heun"), Error);
}

}  // namespace
}  // namespace revode
