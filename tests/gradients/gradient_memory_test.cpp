// What the memory-efficient gradient methods keep and recompute: stored_floats growth from
// N = 100 to N = 1000 steps for every method, revolve's optimal recomputation counts through
// the real gradient method, and clear errors for bad method specs and solver mismatches.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "revode/gradients/registry.hpp"
#include "revode/gradients/symplectic_adjoint.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/tableaux/registry.hpp"

namespace revode {
namespace {

struct Problem {
  Problem() : field(parse_mlp_spec("2,8,2")), theta(field.init_params(Init::pytorch_default, 3)) {}
  GradientResult<double> run(const std::string& spec, Index steps, Index batch = 1,
                             const SaveAt& save_at = SaveAt::final_time(1.0)) const {
    const Batch<double> y0 = Batch<double>::Constant(2, batch, 0.5);
    const GradientProblem<double> p{field, rk, FixedSteps{steps}, save_at, 0.0, 1.0, y0, theta,
                                    loss};
    return make_gradient_method<double>(spec)->compute(p);
  }
  Mlp<double> field;
  Vector<double> theta;
  ExplicitRK<double> rk{tableaux::rk4};
  MseZero<double> loss;
};

TEST(CheckpointAnodeSymplecticAdjointMemory, GrowsWithTheNumberOfStepsAsExpected) {
  const Problem p;
  const Index batch = 4, state = 2 * batch, stages = 4;
  std::map<std::string, std::pair<Index, Index>> floats;  // spec -> (N = 100, N = 1000)
  for (const std::string spec :
       {"backprop", "anode", "symplectic", "checkpoint:2", "checkpoint:8", "adjoint"})
    floats[spec] = {p.run(spec, 100, batch).stats.stored_floats,
                    p.run(spec, 1000, batch).stats.stored_floats};
  auto growth = [&](const std::string& spec) { return floats[spec].second - floats[spec].first; };
  // Backprop: a state, s stages and two step times per step, and its forward tape (the MLP's
  // σ per evaluation, with t and y: 1 + (2 + 8) · batch per stage).
  const Index tape = stages * (1 + (2 + 8) * batch);
  EXPECT_EQ(growth("backprop"), 900 * (state * (1 + stages) + 2 + tape));
  // ANODE and the symplectic adjoint: exactly one state per step, no factor s.
  EXPECT_EQ(growth("anode"), 900 * state);
  EXPECT_EQ(growth("symplectic"), 900 * state);
  // Checkpointing and the continuous adjoint: nothing per step.
  EXPECT_EQ(growth("checkpoint:2"), 0);
  EXPECT_EQ(growth("checkpoint:8"), 0);
  EXPECT_EQ(growth("adjoint"), 0);
  // checkpoint:C holds C slots, the working state and its successor, one tape, one cotangent
  // and one evaluation's intermediates (2 · 8 hidden units · batch).
  EXPECT_EQ(floats["checkpoint:2"].first, (2 + 2 + stages + 1) * state + 2 * 8 * batch);
  EXPECT_EQ(floats["checkpoint:8"].first, (8 + 2 + stages + 1) * state + 2 * 8 * batch);
  for (const auto& [spec, f] : floats)
    EXPECT_LE(f.second, floats["backprop"].second) << spec;
  EXPECT_GT(floats["backprop"].second, 4 * floats["symplectic"].second);
}

// With the loss at every step, only direct backprop keeps the forward's cotangents (one state
// per save); the methods that re-run or rebuild steps recompute them on the way back.
// At batch 32 and wider, backprop's forward tape keeps per evaluation t, y and the σ of the
// layers fed by a wide GEMM only (Mlp::kWideTapeMinInputs): for 2→16→16→2 the second hidden
// layer, 1 + (2 + 16) · batch per stage, counted in stored_floats.
TEST(CheckpointAnodeSymplecticAdjointMemory, BackpropCountsItsWideForwardTape) {
  const Mlp<double> field(parse_mlp_spec("2,16,16,2"));
  const Vector<double> theta = field.init_params(Init::pytorch_default, 3);
  const ExplicitRK<double> rk{tableaux::rk4};
  const MseZero<double> loss;
  const Index batch = 32, state = 2 * batch, stages = 4;
  const Batch<double> y0 = Batch<double>::Constant(2, batch, 0.5);
  const auto floats = [&](Index steps) {
    const GradientProblem<double> p{
        field, rk, FixedSteps{steps}, SaveAt::final_time(1.0), 0.0, 1.0, y0, theta, loss};
    return make_gradient_method<double>("backprop")->compute(p).stats.stored_floats;
  };
  const Index tape = stages * (1 + (2 + 16) * batch);
  EXPECT_EQ(field.tape_entry_floats(batch), tape / stages);
  EXPECT_EQ(floats(1000) - floats(100), 900 * (state * (1 + stages) + 2 + tape));
}

TEST(CheckpointAnodeSymplecticAdjointMemory, LossAtEveryStepAddsNoPerSaveMemory) {
  const Problem p;
  const Index batch = 4, state = 2 * batch, stages = 4;
  auto growth = [&](const std::string& spec) {
    return p.run(spec, 1000, batch, SaveAt::every_step()).stats.stored_floats -
           p.run(spec, 100, batch, SaveAt::every_step()).stats.stored_floats;
  };
  const Index tape = stages * (1 + (2 + 8) * batch);  // backprop's forward tape per step
  EXPECT_EQ(growth("backprop"), 900 * (state * (2 + stages) + 2 + tape));
  EXPECT_EQ(growth("anode"), 900 * state);
  EXPECT_EQ(growth("symplectic"), 900 * state);
  EXPECT_EQ(growth("checkpoint:8"), 0);
}

TEST(CheckpointAnodeSymplecticAdjointMemory, AdaptiveStepsCostOneTimePerStep) {
  // With adaptive steps the step times are recorded (one scalar per step) and replayed.
  const Problem p;
  ExplicitRK<double> rk(tableaux::bosh3);
  const Batch<double> y0 = Batch<double>::Constant(2, 1, 0.5);
  auto run = [&](const std::string& spec, double t1) {
    const GradientProblem<double> q{p.field, rk, AdaptiveSteps{.rtol = 1e-8, .atol = 1e-8},
                                    SaveAt::final_time(t1), 0.0, t1, y0, p.theta, p.loss};
    return make_gradient_method<double>(spec)->compute(q).stats;
  };
  const SolveStats short_solve = run("checkpoint:4", 1.0), long_solve = run("checkpoint:4", 10.0);
  ASSERT_GT(long_solve.steps, short_solve.steps + 50);
  EXPECT_EQ(long_solve.stored_floats - short_solve.stored_floats,
            long_solve.steps - short_solve.steps);
}

TEST(CheckpointRecomputation, IsTheBinomialOptimumForOneHundredFixedSteps) {
  const Problem p;
  for (const auto& [spec, optimal] : {std::pair<std::string, Index>{"checkpoint:2", 845},
                                     {"checkpoint:3", 490},
                                     {"checkpoint:5", 316}}) {
    const SolveStats s = p.run(spec, 100).stats;
    EXPECT_EQ(s.recomputed_steps, optimal) << spec;
    // Forward: 100 steps of 4 stages; backward: one evaluation per stage of every re-run
    // step and one VJP per stage of every step.
    EXPECT_EQ(s.nfe, 4 * (100 + optimal)) << spec;
    EXPECT_EQ(s.nvjp, 4 * 100) << spec;
  }
  const SolveStats anode = p.run("anode", 100).stats;
  EXPECT_EQ(anode.recomputed_steps, 99);
  const SolveStats symplectic = p.run("symplectic", 100).stats;
  EXPECT_EQ(symplectic.nfe, 4 * 100 + 3 * 100);  // s − 1 stage evaluations per step
  EXPECT_EQ(symplectic.nvjp, 4 * 100);
}

TEST(CheckpointSpecs, BadSlotCountsAreClearErrors) {
  for (const std::string spec : {"checkpoint:0", "checkpoint:x", "checkpoint:", "checkpoint:-2",
                                 "checkpoint:3x"}) {
    try {
      make_gradient_method<double>(spec);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(spec), std::string::npos) << what;
      EXPECT_NE(what.find(">= 1"), std::string::npos) << what;
    }
  }
  EXPECT_EQ(make_gradient_method<double>("checkpoint:7")->name(), "checkpoint:7");
  EXPECT_EQ(make_gradient_method<float>("anode")->name(), "anode");
}

TEST(AdjointSpecs, OptionsParseAndBadOnesAreClearErrors) {
  EXPECT_EQ(make_gradient_method<double>("adjoint")->name(), "adjoint");
  EXPECT_EQ(make_gradient_method<double>("adjoint:rtol=1e-08,seminorm")->name(),
            "adjoint:rtol=1e-08,seminorm");
  EXPECT_THROW(make_gradient_method<double>("adjoint:rtol=abc"), Error);
  EXPECT_THROW(make_gradient_method<double>("adjoint:atol=-1"), Error);
  EXPECT_THROW(make_gradient_method<double>("adjoint:fast"), Error);
}

/// Explicit Euler written directly as a Stepper, not as an ExplicitRK.
class PlainEuler final : public Stepper<double> {
 public:
  std::string name() const override { return "plain-euler"; }
  int order() const override { return 1; }
  int error_order() const override { return 0; }
  int evals_per_step() const override { return 1; }
  Index tape_cols(Index batch) const override { return batch; }
  void step(const VectorField<double>& f, double t0, double t1, const ConstBatchRef<double>& x0,
            const ConstVectorRef<double>& theta, BatchRef<double> x1, BatchRef<double> tape,
            Batch<double>*, bool) const override {
    f.eval(t0, x0, theta, tape);
    x1 = x0 + (t1 - t0) * tape;
  }
  void step_vjp(const VectorField<double>& f, double t0, double t1, const ConstBatchRef<double>& x0,
                const ConstVectorRef<double>& theta, const ConstBatchRef<double>&,
                const ConstBatchRef<double>& x1_bar, BatchRef<double> x0_bar,
                VectorRef<double> theta_bar) const override {
    f.vjp(t0, x0, theta, ((t1 - t0) * x1_bar).eval(), x0_bar, theta_bar);
    x0_bar += x1_bar;
  }
};

TEST(SymplecticSpecs, NonRungeKuttaSolverIsAClearErrorWhileOtherMethodsAcceptIt) {
  const Problem p;
  PlainEuler euler;
  const Batch<double> y0 = Batch<double>::Constant(2, 1, 0.5);
  const GradientProblem<double> q{p.field, euler, FixedSteps{10}, SaveAt::final_time(1.0),
                                  0.0, 1.0, y0, p.theta, p.loss};
  try {
    SymplecticAdjoint<double>().compute(q);
    ADD_FAILURE() << "symplectic accepted a non-RK stepper";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'plain-euler' is not an explicit RK"), std::string::npos)
        << e.what();
  }
  const auto reference = make_gradient_method<double>("backprop")->compute(q);
  for (const std::string spec : {"anode", "checkpoint:2"}) {
    const auto r = make_gradient_method<double>(spec)->compute(q);
    EXPECT_LE((r.grad_params - reference.grad_params).norm(), 1e-12 * reference.grad_params.norm());
  }
}

TEST(SymplecticPartner, SatisfiesTheSymplecticityCondition) {
  // b_i Ā_ij + b_j a_ji = b_i b_j for every pair with b_i ≠ 0 (Sanz-Serna 2016, SIAM Rev. 58(1)).
  for (const ButcherTableau* t : builtin_tableaux) {
    const auto a_bar = symplectic_partner(*t);
    for (int i = 0; i < t->stages; ++i)
      for (int j = 0; j < t->stages; ++j) {
        if (t->b[i] == 0.0) {
          EXPECT_TRUE(std::isnan(a_bar[i][j]));
          continue;
        }
        const double scale = 1 + std::abs(t->b[j] * t->a[j][i]);  // tsit5's large entries
        EXPECT_NEAR(t->b[i] * a_bar[i][j] + t->b[j] * t->a[j][i], t->b[i] * t->b[j], 1e-15 * scale)
            << t->name << " " << i << " " << j;
      }
  }
}

}  // namespace
}  // namespace revode
