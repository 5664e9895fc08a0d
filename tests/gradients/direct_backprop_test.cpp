// Direct backprop, the reference for every other gradient method, checked two independent
// ways: against central finite differences of the discrete solve (every tableau, fixed and
// dense saves, batches) and against the closed-form gradient of the linear ODE.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include <unsupported/Eigen/MatrixFunctions>

#include "revode/fields/lotka_volterra.hpp"
#include "revode/fields/linear.hpp"
#include "revode/fields/registry.hpp"
#include "revode/gradients/direct_backprop.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/tableaux/registry.hpp"
#include "support/finite_difference.hpp"
#include "support/without_forward_tape.hpp"

namespace revode {
namespace {

using testing::central_differences;
using testing::relative_error;

class BackpropEveryTableau : public ::testing::TestWithParam<const ButcherTableau*> {};

TEST_P(BackpropEveryTableau, MatchesFiniteDifferencesWithManySavesAndABatch) {
  auto f = make_analytic_field<double>("lotka-volterra");
  const auto& info = analytic_field_info("lotka-volterra");
  const Vector<double> theta = Eigen::Map<const Vector<double>>(info.default_params.data(), 4);
  Batch<double> y0(2, 3);
  y0 << 1.0, 1.2, 0.8, 0.5, 0.7, 1.1;
  ExplicitRK<double> rk(*GetParam());
  MseZero<double> loss;
  for (bool dense : {false, true}) {
    SaveAt save = SaveAt::linspace(0.0, 1.5, 7);
    save.dense = dense;
    const GradientProblem<double> p{*f, rk, FixedSteps{9}, save, 0.0, 1.5, y0, theta, loss};
    const auto exact = DirectBackprop<double>().compute(p);
    const auto fd = central_differences(p);
    EXPECT_LT(relative_error(exact.grad_params, fd.grad_params), 1e-7) << "dense " << dense;
    EXPECT_LT(relative_error(exact.grad_y0, fd.grad_y0), 1e-7) << "dense " << dense;
  }
}

INSTANTIATE_TEST_SUITE_P(Builtin, BackpropEveryTableau, ::testing::ValuesIn(builtin_tableaux),
                         [](const auto& info) { return std::string(info.param->name); });

TEST(DirectBackprop, AdaptiveStepsMatchFiniteDifferencesOfTheSameStepSequence) {
  // With adaptive steps the step sizes are constants of the computation: replaying the
  // accepted step times as a fixed grid must give the same gradient, checked against FD.
  auto f = make_analytic_field<double>("van-der-pol");
  const Vector<double> theta = Vector<double>::Constant(1, 1.0);
  Batch<double> y0(2, 2);
  y0 << 2.0, 1.0, 0.0, -0.5;
  ExplicitRK<double> rk(tableaux::bosh3);
  MseZero<double> loss;
  const GradientProblem<double> adaptive{*f, rk, AdaptiveSteps{.rtol = 1e-5, .atol = 1e-5},
                                         SaveAt::every_step(), 0.0, 2.0, y0, theta, loss};
  const auto g = DirectBackprop<double>().compute(adaptive);
  ASSERT_GT(g.stats.steps, 5);
  const std::vector<double> ts(g.ts.begin(), g.ts.end());
  const GradientProblem<double> replay{*f, rk, FixedSteps{1}, SaveAt{ts}, 0.0, 2.0, y0, theta, loss};
  const auto again = DirectBackprop<double>().compute(replay);
  EXPECT_LT(relative_error(g.grad_params, again.grad_params), 1e-12);
  const auto fd = central_differences(replay);
  EXPECT_LT(relative_error(again.grad_params, fd.grad_params), 1e-7);
  EXPECT_LT(relative_error(again.grad_y0, fd.grad_y0), 1e-7);
}

TEST(DirectBackprop, ConvergesToTheClosedFormGradientOfTheLinearOde) {
  // L = ‖y(T)‖² / dim with y(T) = expm(A T) y0. Then g = 2 y(T)/dim, ∂L/∂y0 = expm(Aᵀ T) g, and
  // ∂L/∂A = T · L(Aᵀ T, g y0ᵀ), the adjoint Fréchet derivative of expm, read off the upper
  // right block of expm([[Aᵀ T, T g y0ᵀ], [0, Aᵀ T]]) (Van Loan 1978).
  LinearField<double> f(2);
  const Vector<double> theta = f.default_params();
  const Eigen::Map<const Eigen::MatrixXd> a(theta.data(), 2, 2);
  const Eigen::VectorXd y0 = Eigen::Vector2d(1.0, 0.5);
  const double t1 = 1.5;
  const Eigen::VectorXd y_t = (a * t1).exp() * y0;
  const Eigen::VectorXd g = y_t;  // 2 y(T) / dim with dim = 2
  Eigen::MatrixXd block = Eigen::MatrixXd::Zero(4, 4);
  block.topLeftCorner(2, 2) = block.bottomRightCorner(2, 2) = a.transpose() * t1;
  block.topRightCorner(2, 2) = t1 * g * y0.transpose();
  const Eigen::MatrixXd grad_a = block.exp().topRightCorner(2, 2);
  const Eigen::VectorXd grad_y0 = (a.transpose() * t1).exp() * g;

  ExplicitRK<double> rk(tableaux::rk4);
  MseZero<double> loss;
  const GradientProblem<double> p{f, rk, FixedSteps{400}, SaveAt::final_time(t1), 0.0, t1,
                                  y0, theta, loss};
  const auto r = DirectBackprop<double>().compute(p);
  EXPECT_NEAR(r.loss, y_t.squaredNorm() / 2, 1e-10);
  EXPECT_LT(relative_error(Eigen::Map<const Eigen::MatrixXd>(r.grad_params.data(), 2, 2), grad_a), 1e-9);
  EXPECT_LT(relative_error(r.grad_y0.col(0), grad_y0), 1e-9);
}

TEST(DirectBackprop, StatisticsCountWhatIsStored) {
  LinearField<double> f(2);
  const Vector<double> theta = f.default_params();
  const Batch<double> y0 = Batch<double>::Ones(2, 1);
  ExplicitRK<double> rk(tableaux::midpoint);
  MseZero<double> loss;
  const GradientProblem<double> p{f, rk, FixedSteps{100}, SaveAt::every_step(), 0.0, 1.0, y0, theta, loss};
  const auto r = DirectBackprop<double>().compute(p);
  EXPECT_EQ(r.stats.steps, 100);
  EXPECT_EQ(r.stats.nfe, 200);
  EXPECT_EQ(r.stats.nvjp, 200);
  // states (101 × 2) + stages (100 × 2 × 2) + step times (200) + saved states (101 × 2) + the
  // cotangent evaluated on one of them at a time in the backward half (2)
  EXPECT_EQ(r.stats.stored_floats, 202 + 400 + 200 + 202 + 2);
}

using testing::WithoutForwardTape;

// An MLP keeps its forwards for backprop's VJPs (Mlp::record_forwards) and, at batch 1,
// defers its wide layers' weight gradients (Mlp::defer_weight_gradients): the gradient must
// be bit for bit the one that recomputes every forward and adds each VJP's terms at once, at
// batch 1 (the column kernels), a batch that takes the slab path, and with dense saves (whose
// VJPs sit between the steps'), and both are counted in stored_floats, the tape emptied
// afterwards.
TEST(DirectBackprop, ForwardTapeOfAnMlpGivesBitIdenticalGradients) {
  const Mlp<double> f(parse_mlp_spec("2,24,90,2", Activation::tanh, true));  // 90 × 24 defers
  const Vector<double> theta = f.init_params(Init::pytorch_default, 3);
  ExplicitRK<double> rk(tableaux::rk4);
  MseZero<double> loss;
  for (const Index batch : {1, 5, 40}) {  // 40: the wide layer alone, and no forward cache
    const Batch<double> y0 = Batch<double>::Random(2, batch);
    for (const bool dense : {false, true}) {
      SaveAt save = dense ? SaveAt::linspace(0.0, 1.0, 7) : SaveAt::every_step();
      save.dense = dense;
      const GradientProblem<double> p{f, rk, FixedSteps{20}, save, 0.0, 1.0, y0, theta, loss};
      const WithoutForwardTape plain(f);
      const GradientProblem<double> q{plain, rk, FixedSteps{20}, save, 0.0, 1.0, y0, theta, loss};
      const auto taped = DirectBackprop<double>().compute(p);
      const auto recomputed = DirectBackprop<double>().compute(q);
      EXPECT_EQ(taped.grad_params, recomputed.grad_params) << batch << " " << dense;
      EXPECT_EQ(taped.grad_y0, recomputed.grad_y0) << batch << " " << dense;
      EXPECT_EQ(taped.loss, recomputed.loss);
      // Every evaluation (80 stages, and dense output's), each t, y and σ of 24 + 90 units per
      // column (tanh' is rebuilt from σ), or at batch 40 of the 90 units fed by the 24-wide
      // layer (Mlp::kWideTapeMinInputs); at batch 1 also the deferred weight gradients'
      // (x, g) columns, four of the 24 → 90 layer's (Mlp::defer_weight_gradients).
      EXPECT_EQ(f.tape_entry_floats(batch),
                batch < Mlp<double>::kForwardCacheMinBatch ? 1 + (2 + 114) * batch
                                                           : 1 + (2 + 90) * batch);
      EXPECT_EQ(taped.stats.stored_floats - recomputed.stats.stored_floats,
                taped.stats.nfe * f.tape_entry_floats(batch) + (batch == 1 ? 4 * (24 + 90) : 0));
      EXPECT_EQ(f.recorded_floats(), 0);
    }
  }
}

/// Sets REVODE_MEMORY_LIMIT (bytes) for one scope.
struct ScopedMemoryLimit {
  explicit ScopedMemoryLimit(std::uint64_t bytes) {
    ::setenv("REVODE_MEMORY_LIMIT", std::to_string(bytes).c_str(), 1);
  }
  ~ScopedMemoryLimit() { ::unsetenv("REVODE_MEMORY_LIMIT"); }
  ScopedMemoryLimit(const ScopedMemoryLimit&) = delete;
  ScopedMemoryLimit& operator=(const ScopedMemoryLimit&) = delete;
};

// At wide batches the tape keeps only the σ of the layers fed by a wide GEMM
// (Mlp::kWideTapeMinInputs): 2→24→20→2 with time input keeps the second hidden layer's 20
// units. The gradient is bit for bit the recomputing one at batch 40 (one slab) and 300 (two
// slabs), the tape counted in stored_floats; a memory limit bounds the tape (a quarter of it
// here), the rest is recomputed, still bit for bit.
TEST(DirectBackprop, ForwardTapeAtWideBatchesGivesBitIdenticalGradients) {
  const Mlp<double> f(parse_mlp_spec("2,24,20,2", Activation::tanh, true));
  const Vector<double> theta = f.init_params(Init::pytorch_default, 3);
  ExplicitRK<double> rk(tableaux::midpoint);
  MseZero<double> loss;
  for (const Index batch : {40, 300}) {
    const Batch<double> y0 = Batch<double>::Random(2, batch);
    const SaveAt save = SaveAt::every_step();
    const GradientProblem<double> p{f, rk, FixedSteps{20}, save, 0.0, 1.0, y0, theta, loss};
    const WithoutForwardTape plain(f);
    const GradientProblem<double> q{plain, rk, FixedSteps{20}, save, 0.0, 1.0, y0, theta, loss};
    const auto recomputed = DirectBackprop<double>().compute(q);
    const Index entry = 1 + (2 + 20) * batch;
    EXPECT_EQ(f.tape_entry_floats(batch), entry);
    const auto taped = DirectBackprop<double>().compute(p);
    EXPECT_EQ(taped.grad_params, recomputed.grad_params) << batch;
    EXPECT_EQ(taped.grad_y0, recomputed.grad_y0) << batch;
    EXPECT_EQ(taped.loss, recomputed.loss);
    EXPECT_EQ(taped.stats.stored_floats - recomputed.stats.stored_floats, 40 * entry);
    EXPECT_EQ(f.recorded_floats(), 0);
    // The tape's bound is min(64 MiB, memory limit / 8): room for 10 of the 40 entries.
    const std::uint64_t limit = 8 * 10 * sizeof(double) * std::uint64_t(entry) + 8;
    {
      const ScopedMemoryLimit small(limit);
      const auto bounded = DirectBackprop<double>().compute(p);
      EXPECT_EQ(bounded.grad_params, recomputed.grad_params) << batch;
      EXPECT_EQ(bounded.grad_y0, recomputed.grad_y0) << batch;
      EXPECT_EQ(bounded.stats.stored_floats - recomputed.stats.stored_floats, 10 * entry);
    }
  }
}

TEST(DirectBackprop, DataLengthMismatchIsAClearError) {
  LinearField<double> f(2);
  const Vector<double> theta = f.default_params();
  ExplicitRK<double> rk(tableaux::rk4);
  MseData<double> loss(std::vector<Batch<double>>(3, Batch<double>::Zero(2, 1)));
  const GradientProblem<double> p{f, rk, FixedSteps{10}, SaveAt::linspace(0, 1, 5), 0.0, 1.0,
                                  Batch<double>::Ones(2, 1), theta, loss};
  try {
    DirectBackprop<double>().compute(p);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("saved 5 states but the data has 3"), std::string::npos);
  }
}

}  // namespace
}  // namespace revode
