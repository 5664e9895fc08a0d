// Checkpoints resume bit for bit, corrupt or mismatched ones are refused with a clear error,
// and parameter files round-trip exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "revode/core/error.hpp"
#include "revode/train/checkpoint.hpp"
#include "revode/train/params_file.hpp"
#include "temp_file.hpp"

namespace revode {
namespace {

using testing::TempFile;

TrainSettings small_settings(const Dataset& d) {
  TrainSettings s = d.suggested;
  s.control = FixedSteps{50, 0.0};
  s.iterations = 20;
  s.schedule = ScheduleKind::cosine;  // the schedule and clipping must resume too
  s.clip = 0.05;
  return s;
}

std::string error_of_load(const std::string& path) {
  try {
    load_checkpoint(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Checkpoint, ResumeContinuesBitForBit) {
  const Dataset d = make_dataset("white-dwarf");
  Trainer straight(d, small_settings(d));
  straight.run();

  TempFile file("resume.ckpt");
  {
    Trainer first(d, small_settings(d));
    for (int i = 0; i < 10; ++i) first.step();
    save_checkpoint(file.path(), first);
  }
  Trainer second(d, small_settings(d));
  resume(second, load_checkpoint(file.path()), file.path());
  EXPECT_EQ(second.iteration(), 10);
  second.run();
  EXPECT_TRUE(second.state() == straight.state());
  EXPECT_EQ(second.params(), straight.params());
}

TEST(Checkpoint, RunWritesEveryKAndAtTheEnd) {
  const Dataset d = make_dataset("white-dwarf");
  TrainSettings s = small_settings(d);
  s.iterations = 7;
  TempFile file("every.ckpt");
  Trainer trainer(d, s);
  std::vector<Index> seen;  // the checkpoint's iteration at each progress call (−1: none yet)
  trainer.run(
      [&](const TrainProgress&) {
        seen.push_back(std::filesystem::exists(file.path())
                           ? load_checkpoint(file.path()).state.iteration
                           : -1);
      },
      CheckpointOptions{file.path(), 3});
  EXPECT_EQ(seen, (std::vector<Index>{-1, -1, 3, 3, 3, 6, 7}));
}

TEST(Checkpoint, CorruptFilesAreRefused) {
  const Dataset d = make_dataset("white-dwarf");
  Trainer trainer(d, small_settings(d));
  trainer.step();
  TempFile file("corrupt.ckpt");
  save_checkpoint(file.path(), trainer);
  std::string text;
  std::getline(std::ifstream(file.path()), text);

  std::ofstream(file.path()) << text.substr(0, text.size() / 2);  // truncated
  EXPECT_NE(error_of_load(file.path()).find("is not valid JSON"), std::string::npos);
  std::string edited = text;  // one digit of θ changed
  const std::size_t at = edited.find_first_of("0123456789", edited.find("\"params\":[") + 13);
  edited[at] = edited[at] == '1' ? '2' : '1';
  std::ofstream(file.path()) << edited;
  EXPECT_NE(error_of_load(file.path()).find("checksum does not match"), std::string::npos);
  std::ofstream(file.path()) << "{\"params\": [1, 2]}";
  EXPECT_NE(error_of_load(file.path()).find("not a revode checkpoint"), std::string::npos);
  EXPECT_NE(error_of_load("/nonexistent/x.ckpt").find("cannot be opened"), std::string::npos);
}

TEST(Checkpoint, MismatchedSettingsOrDataAreRefused) {
  const Dataset d = make_dataset("white-dwarf");
  Trainer trainer(d, small_settings(d));
  TempFile file("mismatch.ckpt");
  save_checkpoint(file.path(), trainer);
  const Checkpoint c = load_checkpoint(file.path());

  TrainSettings other = small_settings(d);
  other.lr = 0.02;
  Trainer different(d, other);
  try {
    resume(different, c, file.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lr: 0.01 vs 0.02"), std::string::npos) << e.what();
  }
  // Generated data are identified by their recipe (not their last bits, which differ between
  // builds: see robust_files_test.cpp); data without one by their values.
  Dataset changed = d;
  changed.recipe += " (another generator)";
  Trainer on_changed(changed, small_settings(d));
  EXPECT_THROW(resume(on_changed, c, file.path()), Error);
  Dataset edited = d;
  edited.recipe.clear();
  Trainer on_edited(edited, small_settings(d));
  EXPECT_THROW(resume(on_edited, c, file.path()), Error);
}

TEST(ParamsFile, RoundTripsExactly) {
  const Dataset d = make_dataset("white-dwarf");
  TrainSettings s = small_settings(d);
  s.iterations = 3;
  Trainer trainer(d, s);
  trainer.run();
  TempFile file("params.json");
  save_params_file(file.path(), trainer, 1.5);
  const ParamsFile f = load_params_file(file.path());
  EXPECT_EQ(f.params, trainer.params());  // bitwise: Eigen compares with ==
  EXPECT_EQ(f.model.widths, trainer.settings().model.widths);
  EXPECT_EQ(f.model.time_input, true);
  EXPECT_EQ(settings_difference(f.settings, trainer.settings()), "");
  EXPECT_EQ(f.dataset_fingerprint, d.fingerprint());
  EXPECT_EQ(f.iterations, 3);
  EXPECT_EQ(f.best_loss, trainer.best_loss());
  EXPECT_EQ(f.final_loss, trainer.losses().back());
  EXPECT_EQ(f.y0, (std::vector<double>{1.0, 0.0}));
  EXPECT_NE(solve_flags(f, "p.json").find("--field mlp:2,10,2 --activation tanh --time-input "
                                          "--params p.json --y0 1,0 --t0 0 --t1 5"),
            std::string::npos)
      << solve_flags(f, "p.json");
  std::ofstream(file.path()) << "{\"params\": [1, 2], \"model\": {\"widths\": [2, 10, 2], "
                                "\"activation\": \"tanh\", \"time_input\": true}}";
  EXPECT_THROW(load_params_file(file.path()), Error);  // 2 parameters for a 52-parameter model
}

TEST(ParamsFile, AGivenFieldIsNamedAndRoundTrips) {
  const Dataset d = make_dataset("white-dwarf");
  TrainSettings s = small_settings(d);
  s.iterations = 2;
  s.field = "torchscript:field.pt";  // the name the CLI would load; any field does here
  auto mlp = std::make_unique<Mlp<double>>(s.model);
  Vector<double> theta = mlp->init_params(s.init, s.seed);
  Trainer trainer(d, s, nullptr, 0, {std::move(mlp), std::move(theta), {}});
  trainer.run();
  TempFile file("params.json");
  save_params_file(file.path(), trainer, 1.0);
  const ParamsFile f = load_params_file(file.path());
  EXPECT_EQ(f.field, "torchscript:field.pt");
  EXPECT_EQ(f.params, trainer.params());
  EXPECT_EQ(f.settings.field, "torchscript:field.pt");
  EXPECT_EQ(settings_difference(f.settings, trainer.settings()), "");
  EXPECT_NE(solve_flags(f, "p.json").find("--field torchscript:field.pt --params p.json --y0 1,0"),
            std::string::npos)
      << solve_flags(f, "p.json");
  TrainSettings mlp_settings = s;
  mlp_settings.field.clear();
  EXPECT_NE(settings_difference(f.settings, mlp_settings).find("field"), std::string::npos);
  std::ofstream(file.path()) << "{\"params\": [1, 2], \"model\": {\"field\": \"torchscript:f.pt\", "
                                "\"param_count\": 3}}";
  EXPECT_THROW(load_params_file(file.path()), Error);  // 2 parameters for 3
}

}  // namespace
}  // namespace revode
