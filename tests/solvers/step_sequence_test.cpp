// StepSequence must name exactly the (t0, t1) floats `integrate` uses, so that gradient
// methods replaying steps reproduce the forward solve; replay_steps must reproduce its states.
#include <gtest/gtest.h>

#include <vector>

#include "revode/fields/linear.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/solvers/step_sequence.hpp"
#include "revode/solvers/tableaux/registry.hpp"

namespace revode {
namespace {

/// Records every accepted step's times and states.
class RecordSteps final : public SolveObserver<double> {
 public:
  void on_step(const StepRecord<double>& step) override {
    times.push_back({step.t0, step.t1});
    states.emplace_back(step.x0);
    last = step.x1;
  }
  std::vector<std::pair<double, double>> times;
  std::vector<Batch<double>> states;
  Batch<double> last;
};

TEST(StepSequence, FixedGridNamesTheStepsIntegrateTakes) {
  LinearField<double> f(2);
  const Vector<double> theta = f.default_params();
  const Batch<double> y0 = Batch<double>::Ones(2, 2);
  ExplicitRK<double> rk(tableaux::dopri5);
  SaveAt dense = SaveAt::linspace(0.0, 1.0, 7);
  dense.dense = true;
  struct Case {
    FixedSteps fixed;
    SaveAt save;
    double t0, t1;
  };
  const std::vector<Case> cases{
      {FixedSteps{10}, SaveAt::final_time(1.0), 0.0, 1.0},
      {FixedSteps{10}, SaveAt::linspace(0.0, 1.0, 7), 0.0, 1.0},  // off-grid: splits
      {FixedSteps{12}, SaveAt::linspace(0.0, 1.0, 7), 0.0, 1.0},  // on-grid: no splits
      {FixedSteps{10}, dense, 0.0, 1.0},
      {FixedSteps{.dt = 0.3}, SaveAt{{0.1, 0.45, 1.0}}, 0.0, 1.0},
      {FixedSteps{7}, SaveAt::linspace(2.0, -1.0, 5), 2.0, -1.0},  // backwards in time
  };
  for (const auto& c : cases) {
    RecordSteps record;
    integrate<double>(f, rk, c.fixed, c.save, c.t0, c.t1, y0, theta, record);
    const StepSequence seq = StepSequence::fixed(c.fixed, c.save, c.t0, c.t1);
    ASSERT_EQ(seq.steps(), Index(record.times.size()));
    for (Index n = 0; n < seq.steps(); ++n) {
      EXPECT_EQ(seq[n], record.times[std::size_t(n)].first) << n;
      EXPECT_EQ(seq[n + 1], record.times[std::size_t(n)].second) << n;
    }
    // Replaying a run of steps from a stored state lands on the forward state.
    const Index from = seq.steps() / 3, to = seq.steps();
    Batch<double> x = record.states[std::size_t(from)], scratch(2, 2), tape(2, rk.tape_cols(2));
    EXPECT_EQ(replay_steps<double>(f, rk, seq, from, to, theta, x, scratch, tape), to - from);
    EXPECT_LE((x - record.last).cwiseAbs().maxCoeff(), 1e-15);
  }
}

TEST(StepSequence, RecordedTimesAndTheirCost) {
  StepSequence seq = StepSequence::recorded(0.5);
  EXPECT_FALSE(seq.known_in_advance());
  seq.record(0.7);
  seq.record(1.0);
  EXPECT_EQ(seq.steps(), 2);
  EXPECT_EQ(seq[0], 0.5);
  EXPECT_EQ(seq[2], 1.0);
  EXPECT_EQ(seq.stored_floats(), 3);
  StepSequence fixed = StepSequence::fixed(FixedSteps{4}, SaveAt::final_time(1.0), 0.0, 1.0);
  EXPECT_TRUE(fixed.known_in_advance());
  EXPECT_EQ(fixed.stored_floats(), 0);
  EXPECT_THROW(fixed.record(2.0), Error);
}

}  // namespace
}  // namespace revode
