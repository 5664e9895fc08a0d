// The training loop: a few iterations lower the loss on every dataset (shrunk where that keeps
// the test fast), and failures are reported with the iteration.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "revode/core/error.hpp"
#include "revode/train/trainer.hpp"
#include "temp_file.hpp"

namespace revode {
namespace {

/// Trains `iterations` iterations and expects the last loss below the first.
void expect_loss_falls(Dataset data, TrainSettings s, Index iterations) {
  s.iterations = iterations;
  Trainer trainer(std::move(data), s);
  Index calls = 0;
  trainer.run([&](const TrainProgress& p) {
    ++calls;
    EXPECT_EQ(p.iteration, calls);
    EXPECT_LE(p.best_loss, p.loss);
  });
  ASSERT_EQ(Index(trainer.losses().size()), iterations);
  EXPECT_LT(trainer.losses().back(), 0.9 * trainer.losses().front()) << s.dataset;
  EXPECT_EQ(trainer.best_loss(), *std::min_element(trainer.losses().begin(), trainer.losses().end()));
  const Batch<double> prediction = trainer.predict();
  EXPECT_EQ(prediction.rows(), trainer.dataset().dim());
  EXPECT_EQ(prediction.cols(), trainer.dataset().points());
}

TEST(Trainer, WhiteDwarfLossFalls) {
  Dataset d = make_dataset("white-dwarf");
  TrainSettings s = d.suggested;
  s.control = FixedSteps{100, 0.0};  // 10× coarser than published, for speed
  expect_loss_falls(std::move(d), s, 20);
}

TEST(Trainer, WhiteDwarfLossFallsWithCheckpointing) {
  Dataset d = make_dataset("white-dwarf");
  TrainSettings s = d.suggested;
  s.control = FixedSteps{100, 0.0};
  s.method = "checkpoint:4";
  expect_loss_falls(std::move(d), s, 20);
}

TEST(Trainer, OscillatorLossFalls) {
  Dataset d = make_dataset("oscillator");
  expect_loss_falls(std::move(d), d.suggested, 15);
}

TEST(Trainer, PendulumLossFalls) {
  Dataset d = make_dataset("pendulum");
  TrainSettings s = d.suggested;
  s.lr = 3e-2;
  expect_loss_falls(std::move(d), s, 15);
}

TEST(Trainer, CsvLossFalls) {
  std::string csv = "t,a,b\n";
  for (int k = 0; k <= 40; ++k) {  // a slow rotation
    const double t = 0.05 * k;
    csv += fmt::format("{},{},{}\n", t, std::cos(t), std::sin(t));
  }
  testing::TempFile file("rotation.csv", csv);
  Dataset d = make_dataset(file.path());
  TrainSettings s = d.suggested;
  s.method = "backprop";
  expect_loss_falls(std::move(d), s, 30);
}

TEST(Trainer, RejectsAModelOfTheWrongDimension) {
  Dataset d = make_dataset("oscillator");
  TrainSettings s = d.suggested;
  s.model.widths = {2, 10, 2};
  try {
    Trainer trainer(std::move(d), s);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("4 state columns"), std::string::npos) << e.what();
  }
}

/// The settings' own MLP, handed in as a TrainField (as the CLI hands in a TorchScript module)
/// with the θ the trainer would have drawn.
TrainField same_mlp_as_field(const TrainSettings& s) {
  auto mlp = std::make_unique<Mlp<double>>(s.model);
  Vector<double> theta = mlp->init_params(s.init, s.seed);
  return {std::move(mlp), std::move(theta), {}};
}

TEST(Trainer, AGivenFieldTrainsAsTheSameBuiltInMlp) {
  Dataset d = make_dataset("white-dwarf");
  TrainSettings s = d.suggested;
  s.control = FixedSteps{50, 0.0};
  s.iterations = 5;
  Trainer builtin(make_dataset("white-dwarf"), s);
  builtin.run();
  TrainSettings named = s;
  named.field = "custom:mlp";
  Trainer given(std::move(d), named, nullptr, 0, same_mlp_as_field(s));
  given.run();
  EXPECT_EQ(given.model().param_count(), builtin.model().param_count());
  EXPECT_TRUE(given.state() == builtin.state());  // θ, Adam, losses: bit for bit
}

TEST(Trainer, AFieldNeedsItsSettingAndTheRightDimension) {
  TrainSettings s = make_dataset("white-dwarf").suggested;
  const auto message = [&](TrainSettings settings, TrainField field) -> std::string {
    try {
      Trainer trainer(make_dataset("white-dwarf"), std::move(settings), nullptr, 0,
                      std::move(field));
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message(s, same_mlp_as_field(s)).find("the settings name none"), std::string::npos);
  TrainSettings named = s;
  named.field = "torchscript:f.pt";
  EXPECT_NE(message(named, {}).find("must be loaded by the caller"), std::string::npos);
  TrainSettings wide = s;
  wide.model.widths = {3, 4, 3};
  wide.model.time_input = false;
  EXPECT_NE(message(named, same_mlp_as_field(wide)).find("has state dimension 3"),
            std::string::npos);
  TrainField short_theta = same_mlp_as_field(s);
  short_theta.initial_params.resize(2);
  EXPECT_NE(message(named, std::move(short_theta)).find("but 2 initial values"),
            std::string::npos);
}

TEST(Trainer, RejectsANegativeCheckpointIntervalBeforeTheFirstIteration) {
  Dataset d = make_dataset("pendulum");
  TrainSettings s = d.suggested;
  s.iterations = 1;
  Trainer trainer(std::move(d), s);
  try {
    trainer.run({}, CheckpointOptions{"", -5});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint every -5 iterations"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(trainer.iteration(), 0);
}

TEST(Trainer, DivergenceNamesTheIteration) {
  Dataset d = make_dataset("white-dwarf");
  TrainSettings s = d.suggested;
  s.control = FixedSteps{20, 0.0};
  s.lr = 1e300;  // the first update throws θ to 1e300: the next solve overflows
  s.iterations = 50;
  Trainer trainer(std::move(d), s);
  try {
    trainer.run();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("iteration"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace revode
