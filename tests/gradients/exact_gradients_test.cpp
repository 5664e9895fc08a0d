// The exact memory-efficient gradient methods (ANODE, binomial/online checkpointing, the
// symplectic adjoint) against DirectBackprop, over the product of every built-in tableau,
// fixed and adaptive steps, batch 1 and 8, and one save or many (grid-splitting, dense, every
// step): they must agree to round-off. Plus central finite differences on one small case per
// method and a float32 run of each.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "revode/gradients/direct_backprop.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/tableaux/registry.hpp"
#include "support/finite_difference.hpp"

namespace revode {
namespace {

using testing::central_differences;
using testing::relative_error;

const std::vector<std::string> kExactMethods{"anode", "checkpoint:2", "checkpoint:5", "symplectic"};

/// A small MLP field and a batch of initial states, deterministic in `batch`.
template <class T>
struct MlpCase {
  explicit MlpCase(Index batch)
      : field(parse_mlp_spec("2,8,2")), theta(field.init_params(Init::pytorch_default, 7)),
        y0(Batch<double>::Random(2, batch).template cast<T>()) {}
  Mlp<T> field;
  Vector<T> theta;
  Batch<T> y0;
};

struct SaveCase {
  std::string name;
  SaveAt save;
};

std::vector<SaveCase> save_cases(double t0, double t1) {
  SaveAt dense = SaveAt::linspace(t0, t1, 6);
  dense.dense = true;
  // linspace(…, 6) puts save times off the 13-step grid, so fixed grids are split at them.
  return {{"final", SaveAt::final_time(t1)},
          {"split", SaveAt::linspace(t0, t1, 6)},
          {"dense", dense},
          {"every-step", SaveAt::every_step()}};
}

class CheckpointAnodeSymplecticMatchBackprop
    : public ::testing::TestWithParam<const ButcherTableau*> {};

TEST_P(CheckpointAnodeSymplecticMatchBackprop, OnEveryControlBatchAndSaveAt) {
  const ButcherTableau& tableau = *GetParam();
  ExplicitRK<double> rk(tableau);
  MseZero<double> loss;
  const double t0 = 0.0, t1 = 3.0;
  std::vector<std::pair<std::string, StepControl>> controls{{"fixed", FixedSteps{13}}};
  if (tableau.has_embedded())
    controls.emplace_back("adaptive", AdaptiveSteps{.rtol = 1e-5, .atol = 1e-7});
  for (const auto& [control_name, control] : controls) {
    for (Index batch : {1, 8}) {
      const MlpCase<double> c(batch);
      for (const auto& [save_name, save] : save_cases(t0, t1)) {
        const GradientProblem<double> p{c.field, rk, control, save, t0, t1, c.y0, c.theta, loss};
        const auto reference = DirectBackprop<double>().compute(p);
        for (const auto& spec : kExactMethods) {
          SCOPED_TRACE(fmt::format("{} {} batch {} save {} {}", tableau.name, control_name,
                                   batch, save_name, spec));
          const auto r = make_gradient_method<double>(spec)->compute(p);
          EXPECT_EQ(r.stats.steps, reference.stats.steps);
          EXPECT_NEAR(r.loss, reference.loss, 1e-14 * std::abs(reference.loss));
          EXPECT_LE(relative_error(r.grad_params, reference.grad_params), 1e-10);
          EXPECT_LE(relative_error(r.grad_y0, reference.grad_y0), 1e-10);
          EXPECT_EQ(r.ts, reference.ts);
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Builtin, CheckpointAnodeSymplecticMatchBackprop,
                         ::testing::ValuesIn(builtin_tableaux),
                         [](const auto& info) { return std::string(info.param->name); });

TEST(CheckpointAnodeSymplecticAdjoint, MatchFiniteDifferences) {
  const MlpCase<double> c(2);
  ExplicitRK<double> rk(tableaux::rk4);
  MseZero<double> loss;
  SaveAt dense = SaveAt::linspace(0.0, 1.0, 4);
  dense.dense = true;
  const GradientProblem<double> p{c.field, rk, FixedSteps{40}, dense, 0.0, 1.0, c.y0, c.theta, loss};
  const auto fd = central_differences(p);
  for (const std::string spec : {"anode", "checkpoint:3", "symplectic", "adjoint"}) {
    SCOPED_TRACE(spec);
    const auto r = make_gradient_method<double>(spec)->compute(p);
    // The continuous adjoint is a different discretisation: O(h^4) away from the discrete
    // gradient the differences measure.
    const double tol = spec == "adjoint" ? 1e-5 : 1e-7;
    EXPECT_LE(relative_error(r.grad_params, fd.grad_params), tol);
    EXPECT_LE(relative_error(r.grad_y0, fd.grad_y0), tol);
  }
}

TEST(CheckpointAnodeSymplecticAdjoint, WorkInFloat32) {
  // Against float backprop on the same float solve (adaptive step sequences differ between
  // float and double), and that against double backprop on fixed steps.
  const MlpCase<float> c(4);
  ExplicitRK<float> rk(tableaux::dopri5);
  MseZero<float> loss;
  const SaveAt save = SaveAt::linspace(0.0, 2.0, 5);
  for (const StepControl& control :
       {StepControl(FixedSteps{20}), StepControl(AdaptiveSteps{.rtol = 1e-4, .atol = 1e-6})}) {
    const GradientProblem<float> p{c.field, rk, control, save, 0.0, 2.0, c.y0, c.theta, loss};
    const auto reference = DirectBackprop<float>().compute(p);
    for (const std::string spec : {"anode", "checkpoint:2", "symplectic", "adjoint"}) {
      SCOPED_TRACE(spec);
      const auto r = make_gradient_method<float>(spec)->compute(p);
      const double tol = spec == "adjoint" ? 2e-2 : 1e-5;
      EXPECT_LE(relative_error(r.grad_params.cast<double>(), reference.grad_params.cast<double>()), tol);
      EXPECT_LE(relative_error(r.grad_y0.cast<double>(), reference.grad_y0.cast<double>()), tol);
    }
  }
}

}  // namespace
}  // namespace revode
