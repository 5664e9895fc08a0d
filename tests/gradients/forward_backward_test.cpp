// The split of every gradient method into a forward and a backward half (gradient_method.hpp):
// forward + backward is bit-identical to compute and makes the same f evaluations and VJPs;
// backward with a CotangentLoss holding the cotangents of a loss equals compute with that loss;
// a record is consumed by its backward, and the `saves` observer of forward sees every save.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "revode/core/counting_field.hpp"
#include "revode/core/error.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/registry.hpp"

namespace revode {
namespace {

struct SplitCase {
  std::string solver;
  bool adaptive;
  std::vector<std::string> methods;
};

std::vector<SplitCase> split_cases() {
  const std::vector<std::string> rk{"backprop", "anode", "checkpoint:3", "symplectic", "adjoint"};
  const std::vector<std::string> reversible{"backprop", "anode", "checkpoint:3", "reversible",
                                            "adjoint"};
  return {{"midpoint", false, rk},
          {"dopri5", true, rk},
          {"reversible:midpoint", false, reversible},
          {"reversible-heun", false, reversible},
          {"alf", false, reversible},
          {"reversible:bosh3", true, reversible}};
}

/// Keeps every save the forward half reports.
class KeepSaves final : public SolveObserver<double> {
 public:
  void on_save(const SaveRecord<double>& save) override {
    ts.push_back(save.t);
    ys.emplace_back(save.y);
  }
  std::vector<double> ts;
  std::vector<Batch<double>> ys;
};

struct Fixture {
  Fixture()
      : mlp(parse_mlp_spec("2,8,2")),
        theta(mlp.init_params(Init::pytorch_default, 3)),
        y0(Batch<double>::Random(2, 3)) {}
  Mlp<double> mlp;
  Vector<double> theta;
  Batch<double> y0;
  MseZero<double> loss;
};

StepControl control_of(const SplitCase& c) {
  if (c.adaptive) return AdaptiveSteps{.rtol = 1e-6, .atol = 1e-8};
  return FixedSteps{11};
}

void expect_identical(const GradientResult<double>& a, const GradientResult<double>& b) {
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.ts, b.ts);
  EXPECT_TRUE(a.grad_params == b.grad_params);
  EXPECT_TRUE(a.grad_y0 == b.grad_y0);
  EXPECT_EQ(a.stats.nfe, b.stats.nfe);
  EXPECT_EQ(a.stats.nvjp, b.stats.nvjp);
  EXPECT_EQ(a.stats.steps, b.stats.steps);
  EXPECT_EQ(a.stats.stored_floats, b.stats.stored_floats);
  EXPECT_EQ(a.stats.recomputed_steps, b.stats.recomputed_steps);
}

double relative(const Eigen::ArrayXd& a, const Eigen::ArrayXd& b) {
  return (a - b).abs().maxCoeff() / std::max(b.abs().maxCoeff(), 1e-300);
}

TEST(GradientForwardBackward, HalvesEqualComputeBitForBitWithTheSameCalls) {
  const Fixture fx;
  for (const SplitCase& c : split_cases()) {
    const auto stepper = make_stepper<double>(c.solver);
    for (const bool every_step : {false, true}) {
      const SaveAt save = every_step ? SaveAt::every_step() : SaveAt::linspace(0.0, 2.0, 6);
      for (const auto& spec : c.methods) {
        SCOPED_TRACE(
            fmt::format("{} {} {}", c.solver, spec, every_step ? "every-step" : "linspace"));
        const auto method = make_gradient_method<double>(spec);
        const CountingField<double> counted_a(fx.mlp), counted_b(fx.mlp);
        const GradientProblem<double> pa{counted_a, *stepper, control_of(c), save,   0.0,
                                         2.0,       fx.y0,    fx.theta,      fx.loss};
        const GradientProblem<double> pb{counted_b, *stepper, control_of(c), save,   0.0,
                                         2.0,       fx.y0,    fx.theta,      fx.loss};
        const auto whole = method->compute(pa);
        KeepSaves saves;
        auto record = method->forward(pb, &saves);
        EXPECT_EQ(record->ts, whole.ts);
        EXPECT_EQ(record->loss, whole.loss);
        const auto halves = method->backward(pb, *record, pb.loss);
        expect_identical(halves, whole);
        EXPECT_EQ(counted_b.nfe(), counted_a.nfe());
        EXPECT_EQ(counted_b.nvjp(), counted_a.nvjp());
        EXPECT_EQ(saves.ts, whole.ts);
        // The forward alone evaluates no VJP: every cotangent comes in backward.
        EXPECT_GT(whole.stats.nvjp, 0);
      }
    }
  }
}

TEST(GradientForwardBackward, ForwardAloneComputesNoVjp) {
  const Fixture fx;
  for (const SplitCase& c : split_cases()) {
    const auto stepper = make_stepper<double>(c.solver);
    for (const auto& spec : c.methods) {
      SCOPED_TRACE(fmt::format("{} {}", c.solver, spec));
      const CountingField<double> counted(fx.mlp);
      const GradientProblem<double> p{
          counted, *stepper, control_of(c), SaveAt::linspace(0.0, 2.0, 4), 0.0, 2.0,
          fx.y0,   fx.theta, fx.loss};
      auto record = make_gradient_method<double>(spec)->forward(p);
      EXPECT_EQ(counted.nvjp(), 0);
      EXPECT_EQ(counted.nfe(), record->stats.nfe);
    }
  }
}

TEST(GradientForwardBackward, CotangentLossBackwardEqualsComputeWithTheLoss) {
  const Fixture fx;
  const Index saves = 5, dim = 2, batch = fx.y0.cols();
  for (const SplitCase& c : split_cases()) {
    const auto stepper = make_stepper<double>(c.solver);
    // Dense: saves inside steps, whose cotangents go back through the Hermite interpolant.
    for (const bool dense : {false, true})
      for (const auto& spec : c.methods) {
        SCOPED_TRACE(fmt::format("{} {} {}", c.solver, spec, dense ? "dense" : "landing"));
        SaveAt save = SaveAt::linspace(0.0, 2.0, saves);
        save.dense = dense;
        const auto method = make_gradient_method<double>(spec);
        const GradientProblem<double> reference_problem{
            fx.mlp, *stepper, control_of(c), save, 0.0, 2.0, fx.y0, fx.theta, fx.loss};
        const auto reference = method->compute(reference_problem);
        // The torch front end's order: the problem's loss is a CotangentLoss of zeros during the
        // forward; the cotangents are filled in between the halves.
        CotangentLoss<double> cotangents(
            std::vector<Batch<double>>(std::size_t(saves), Batch<double>::Zero(dim, batch)));
        const GradientProblem<double> p{fx.mlp, *stepper, control_of(c), save,      0.0,
                                        2.0,    fx.y0,    fx.theta,      cotangents};
        KeepSaves kept;
        auto record = method->forward(p, &kept);
        EXPECT_EQ(record->loss, 0.0);
        ASSERT_EQ(Index(kept.ys.size()), saves);
        const double scale = fx.loss.scale(saves, dim, batch);
        for (Index k = 0; k < saves; ++k)
          cotangents.cotangents()[std::size_t(k)] = (2.0 * kept.ys[std::size_t(k)]) * scale;
        const auto r = method->backward(p, *record, cotangents);
        EXPECT_LE(relative(r.grad_params.array(), reference.grad_params.array()), 1e-14);
        EXPECT_LE(relative(r.grad_y0.reshaped().array(), reference.grad_y0.reshaped().array()),
                  1e-14);
      }
  }
}

TEST(GradientForwardBackward, BackwardTwiceThrows) {
  const Fixture fx;
  const auto stepper = make_stepper<double>("reversible:midpoint");
  for (const auto& spec : {"backprop", "anode", "checkpoint:2", "reversible", "adjoint"}) {
    SCOPED_TRACE(spec);
    const auto method = make_gradient_method<double>(spec);
    const GradientProblem<double> p{fx.mlp, *stepper, FixedSteps{5}, SaveAt::final_time(1.0),
                                    0.0,    1.0,      fx.y0,         fx.theta,
                                    fx.loss};
    auto record = method->forward(p);
    (void)method->backward(p, *record, p.loss);
    try {
      (void)method->backward(p, *record, p.loss);
      ADD_FAILURE() << "a second backward did not throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("backward called twice"), std::string::npos) << e.what();
    }
  }
}

TEST(GradientForwardBackward, BackwardRefusesAnotherMethodsRecord) {
  const Fixture fx;
  const auto stepper = make_stepper<double>("midpoint");
  const GradientProblem<double> p{
      fx.mlp, *stepper, FixedSteps{5}, SaveAt::final_time(1.0), 0.0, 1.0, fx.y0, fx.theta, fx.loss};
  auto record = make_gradient_method<double>("backprop")->forward(p);
  EXPECT_THROW((void)make_gradient_method<double>("anode")->backward(p, *record, p.loss), Error);
}

TEST(GradientForwardBackward, CotangentLossChecksItsBlocks) {
  CotangentLoss<double> loss(std::vector<Batch<double>>(2, Batch<double>::Ones(2, 1)));
  EXPECT_THROW(loss.check_saves(3), Error);
  Batch<double> y = Batch<double>::Constant(2, 1, 3.0), y_bar(2, 1);
  EXPECT_EQ(loss.term(1, 0.0, y, y_bar), 6.0);
  EXPECT_TRUE(y_bar == Batch<double>::Ones(2, 1));
  Batch<double> wrong(3, 1), wrong_bar(3, 1);
  EXPECT_THROW((void)loss.term(0, 0.0, wrong, wrong_bar), Error);
  EXPECT_THROW((void)loss.term(2, 0.0, y, y_bar), Error);
}

}  // namespace
}  // namespace revode
