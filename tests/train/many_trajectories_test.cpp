// Datasets of many trajectories (CSV with a trajectory column, generated ensembles) and
// training on them: per-trajectory data in one batched solve, mini-batches drawn from the
// checkpointed rng (resumed bit for bit), and batches in chunks added in chunk order.
#include <gtest/gtest.h>

#include <cmath>

#include "revode/core/error.hpp"
#include "revode/train/trainer.hpp"
#include "support/error_of.hpp"
#include "temp_file.hpp"

namespace revode {
namespace {

using testing::error_of;
using testing::TempFile;

constexpr const char* two_trajectories =
    "trajectory,t,x,y\n7,0,1,2\n7,0.5,1.5,2.5\n7,1,2,3\n# the second\n3,0,-1,-2\n3,0.5,-1.5,-2.5\n"
    "3,1,-2,-3\n";

TEST(ManyTrajectories, CsvReadsTrajectoriesInFileOrder) {
  TempFile file("two.csv", two_trajectories);
  const Dataset d = make_dataset(file.path());
  EXPECT_EQ(d.columns, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(d.times, (std::vector<double>{0.0, 0.5, 1.0}));
  ASSERT_EQ(d.trajectories(), 2);
  EXPECT_EQ(d.points(), 3);
  EXPECT_EQ(d.trajectory(0)(1, 2), 3.0);   // id 7, first in the file
  EXPECT_EQ(d.trajectory(1)(0, 1), -1.5);  // id 3
  EXPECT_EQ(d.suggested.model.widths, (std::vector<Index>{2, 32, 2}));
  EXPECT_EQ(std::get<FixedSteps>(d.suggested.control).steps, 2);
}

TEST(ManyTrajectories, CsvErrorsNameTheLineAndTheTrajectory) {
  const auto error = [](const std::string& contents) {
    TempFile file("bad_many.csv", contents);
    return error_of([&] { read_csv_dataset(file.path()); });
  };
  const std::string other_time = error("trajectory,t,x\n1,0,1\n1,1,2\n2,0,1\n2,2,2\n");
  EXPECT_NE(other_time.find("line 5: trajectory 2 has time 2 where trajectory 1 has 1"),
            std::string::npos)
      << other_time;
  EXPECT_NE(other_time.find("share one time grid"), std::string::npos);
  EXPECT_NE(error("trajectory,t,x\n1,0,1\n1,1,2\n2,0,1\n")
                .find("trajectory 2 has 1 rows but "
                      "trajectory 1 has 2"),
            std::string::npos);
  EXPECT_NE(error("trajectory,t,x\n1,0,1\n1,1,2\n2,0,1\n2,1,1\n2,2,1\n")
                .find("line 6: trajectory 2 has time 2 where trajectory 1 has no more rows"),
            std::string::npos);
  EXPECT_NE(error("trajectory,t,x\n1,0,1\n1,1,2\n2,0,1\n2,1,1\n1,0,1\n1,1,2\n")
                .find("line 6: trajectory 1 appears again"),
            std::string::npos);
  EXPECT_NE(
      error("trajectory,t,x\n1.5,0,1\n1.5,1,2\n").find("'1.5' is not an integer trajectory id"),
      std::string::npos);
  EXPECT_NE(error("trajectory,x\n1,0\n1,1\n").find("must continue with 't'"), std::string::npos);
  EXPECT_NE(error("trajectory,t,x\n1,0,1\n1,0,2\n").find("not after the time 0"),
            std::string::npos);
}

TEST(ManyTrajectories, EnsembleIsReproducibleAndSpread) {
  const Dataset a = make_dataset("ensemble:lotka-volterra:5");
  ASSERT_EQ(a.trajectories(), 5);
  EXPECT_EQ(a.points(), 101);
  EXPECT_EQ(a.dim(), 2);
  EXPECT_EQ(a.times.front(), 0.0);
  EXPECT_EQ(a.times.back(), 10.0);
  for (Index n = 0; n < 5; ++n)
    for (Index i = 0; i < 2; ++i) {  // default y0 = (1, 1), perturbed by at most 50 %
      EXPECT_GE(a.trajectory(n)(i, 0), 0.5);
      EXPECT_LT(a.trajectory(n)(i, 0), 1.5);
    }
  EXPECT_NE(a.trajectory(0)(0, 0), a.trajectory(1)(0, 0));
  EXPECT_EQ(a.fingerprint(), make_dataset("ensemble:lotka-volterra:5").fingerprint());
  EXPECT_NE(a.fingerprint(), make_dataset("ensemble:lotka-volterra:5:1").fingerprint());
  EXPECT_NE(make_dataset("ensemble:lotka-volterra:5:1").trajectory(0)(0, 0), a.trajectory(0)(0, 0));
  EXPECT_NE(error_of([] { make_dataset("ensemble:lotka-volterra"); }).find("ensemble:FIELD:N"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_dataset("ensemble:lotka-volterra:x"); }).find("ensemble:FIELD:N"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_dataset("ensemble:lotka-volterra:0"); }).find("ensemble of 0"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_dataset("ensemble:lorenz:4"); }).find("lorenz"), std::string::npos);
}

TrainSettings small(const Dataset& d, Index iterations) {
  TrainSettings s = d.suggested;
  s.model.widths = {2, 8, 2};
  s.control = FixedSteps{20, 0.0};
  s.iterations = iterations;
  s.seed = 5;
  return s;
}

Dataset only(const Dataset& d, Index n) {
  Dataset one = d;
  one.states = d.trajectory(n);
  return one;
}

// The batch's loss is the mean over its trajectories: each column is fitted to its own data.
TEST(ManyTrajectories, BatchLossIsTheMeanOfTheTrajectoriesLosses) {
  const Dataset d = make_dataset("ensemble:lotka-volterra:3");
  Trainer all(d, small(d, 1));
  const double batch = all.step();
  double sum = 0;
  for (Index n = 0; n < 3; ++n) {
    Trainer one(only(d, n), small(d, 1));
    sum += one.step();
  }
  EXPECT_NEAR(batch, sum / 3, 1e-13 * batch);
}

// Chunks change only the rounding: the loss curve of 3 chunks is that of one to 1e-12.
TEST(ManyTrajectories, ChunksChangeOnlyTheRounding) {
  const Dataset d = make_dataset("ensemble:lotka-volterra:7");
  TrainSettings s = small(d, 5);
  Trainer one(d, s);
  one.run();
  s.batch_chunks = 3;
  Trainer three(d, s);
  three.run();
  for (std::size_t i = 0; i < 5; ++i)
    EXPECT_NEAR(three.losses()[i], one.losses()[i], 1e-12 * one.losses()[i]) << i;
  EXPECT_NE(error_of([&] {
              s.batch_chunks = 8;
              Trainer too_many(d, s);
            }).find("every chunk needs at least one trajectory; give --batch-chunks <= 7"),
            std::string::npos);
}

// Threads split each chunk into 64-trajectory pieces whatever their count: a run of 150
// trajectories (3 pieces) is the same bits on 1, 2 and 3 threads, and its loss is the mean of
// the trajectories' own to rounding.
TEST(ManyTrajectories, ThreadCountDoesNotChangeABit) {
  const Dataset d = make_dataset("ensemble:lotka-volterra:150");
  const TrainSettings s = small(d, 3);
  Trainer one(d, s, nullptr, 1);
  one.run();
  for (const Index threads : {2, 3}) {
    Trainer many(d, s, nullptr, threads);
    many.run();
    EXPECT_TRUE(many.state() == one.state()) << threads << " threads";
  }
  double sum = 0;
  for (Index n = 0; n < 150; ++n) {
    TrainSettings single = small(d, 1);
    Trainer alone(only(d, n), single, nullptr, 1);
    sum += alone.step();
  }
  EXPECT_NEAR(one.losses()[0], sum / 150, 1e-13 * sum / 150);
}

// Mini-batches come from the checkpointed rng: stopped, restored and continued, a run is the
// uninterrupted one bit for bit; and the batches differ from the full batch.
TEST(ManyTrajectories, MiniBatchesResumeBitForBit) {
  const Dataset d = make_dataset("ensemble:lotka-volterra:6");
  TrainSettings s = small(d, 8);
  s.batch_size = 3;
  s.batch_chunks = 2;
  Trainer straight(d, s);
  straight.run();
  Trainer first(d, s);
  for (int i = 0; i < 3; ++i) first.step();
  Trainer second(d, s);
  second.restore(first.state());
  second.run();
  EXPECT_TRUE(second.state() == straight.state());
  EXPECT_NE(first.state().rng, Trainer(d, s).state().rng);  // the draws moved it on
  s.batch_size = 0;
  Trainer full(d, s);
  EXPECT_NE(full.step(), straight.losses()[0]);
}

TEST(ManyTrajectories, BatchSettingsAreValidatedAndRoundTrip) {
  TrainSettings s;
  s.model.widths = {2, 8, 2};
  s.batch_size = 64;
  s.batch_chunks = 4;
  const TrainSettings back =
      apply_settings_json(s, R"({"batch_size": 64, "batch_chunks": 4})", "test");
  EXPECT_EQ(settings_to_json(back), settings_to_json(s));
  EXPECT_EQ(back.batch_size, 64);
  EXPECT_EQ(back.batch_chunks, 4);
  TrainSettings full = s;
  full.batch_size = 0;
  full.batch_chunks = 1;
  EXPECT_EQ(settings_to_json(full).find("batch"), std::string::npos);
  EXPECT_NE(settings_difference(s, full).find("batch_size: 64 vs absent"), std::string::npos);
  EXPECT_NE(error_of([] {
              apply_settings_json({}, R"({"batch_size": -1})", "cfg");
            }).find("'batch_size': -1 is below the minimum 0"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              apply_settings_json({}, R"({"batch_chunks": 0})", "cfg");
            }).find("'batch_chunks': 0 is below the minimum 1"),
            std::string::npos);
}

}  // namespace
}  // namespace revode
