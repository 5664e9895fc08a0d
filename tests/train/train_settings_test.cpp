// Settings as JSON: config files layered on a dataset's defaults, errors that name the key and
// its line, and an exact round trip.
#include <gtest/gtest.h>

#include "revode/core/error.hpp"
#include "revode/train/dataset.hpp"
#include "revode/train/train_settings.hpp"
#include "temp_file.hpp"

namespace revode {
namespace {

std::string error_of(const std::string& json) {
  try {
    apply_settings_json(make_dataset("oscillator").suggested, json, "config 'c.json'");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TrainSettings, ConfigOverridesOnlyItsKeys) {
  const TrainSettings base = make_dataset("oscillator").suggested;
  const TrainSettings s = apply_settings_json(
      base, R"({"lr": 0.005, "rtol": 1e-7, "clip": 2.5, "schedule": "cosine", "seed": 7})",
      "config");
  EXPECT_EQ(s.lr, 0.005);
  EXPECT_EQ(std::get<AdaptiveSteps>(s.control).rtol, 1e-7);  // rtol switches to adaptive steps
  EXPECT_EQ(s.clip, 2.5);
  EXPECT_EQ(s.schedule, ScheduleKind::cosine);
  EXPECT_EQ(s.seed, 7u);
  EXPECT_EQ(s.model.widths, base.model.widths);
  EXPECT_EQ(s.optimizer.weight_decay, base.optimizer.weight_decay);
  EXPECT_EQ(settings_difference(base, s).find("widths"), std::string::npos);
  EXPECT_NE(settings_difference(base, s).find("lr: 0.01 vs 0.005"), std::string::npos);
}

TEST(TrainSettings, IntegersBeyondInt64AreNamedAsSuch) {
  const std::string e = error_of(R"({"iterations": 9223372036854775808})");
  EXPECT_NE(e.find("above the largest integer"), std::string::npos) << e;
  EXPECT_NE(e.find("iterations"), std::string::npos) << e;
}

TEST(TrainSettings, RoundTripsExactlyThroughJson) {
  for (const std::string name : {"white-dwarf", "oscillator", "pendulum"}) {
    TrainSettings s = make_dataset(name).suggested;
    s.lr = 0.1 / 3;  // a number with no short decimal form
    s.clip = 1.0 / 7;
    const TrainSettings back = apply_settings_json(TrainSettings{}, settings_to_json(s), "json");
    EXPECT_EQ(settings_difference(s, back), "") << name;
    EXPECT_EQ(settings_to_json(s), settings_to_json(back)) << name;
    EXPECT_NO_THROW(validate(back)) << name;
  }
}

TEST(TrainSettings, ConfigErrorsNameTheKeyAndLine) {
  EXPECT_NE(error_of("{\n  \"lr\": 0.01,\n  \"learning_rate\": 3\n}").find(
                "config 'c.json' line 3: 'learning_rate' is not a setting (known: dataset"),
            std::string::npos);
  EXPECT_NE(error_of("{\n\"lr\": \"fast\"\n}").find("line 2: 'lr': expected a number"),
            std::string::npos);
  EXPECT_NE(error_of("{\n\"lr\": -1\n}").find("line 2: 'lr': -1 is not a finite number > 0"),
            std::string::npos);
  EXPECT_NE(error_of("{\n\"iterations\": 2.5\n}").find("line 2: 'iterations'"), std::string::npos);
  EXPECT_NE(error_of("{\n\"widths\": [4, 10, 3]\n}").find("line 2: 'widths'"), std::string::npos);
  EXPECT_NE(error_of("{\n\"optimizer\": \"sgd\"\n}").find("known: adam, adamw"),
            std::string::npos);
  EXPECT_NE(error_of("{\n\"steps\": 10,\n\"rtol\": 1e-6\n}").find("line 3: 'rtol' excludes"),
            std::string::npos);
  const std::string syntax = error_of("{\n  \"lr\": 0.01\n  \"seed\": 1\n}");
  EXPECT_NE(syntax.find("is not valid JSON"), std::string::npos);
  EXPECT_NE(syntax.find("line 3"), std::string::npos) << syntax;
  EXPECT_NE(error_of("[1, 2]").find("expected a JSON object"), std::string::npos);
}

TEST(TrainSettings, ConfigFileAndDatasetKey) {
  testing::TempFile file("config.json", "{\"dataset\": \"pendulum\", \"iterations\": 5}\n");
  const TrainSettings s = apply_config_file(make_dataset("pendulum").suggested, file.path());
  EXPECT_EQ(s.iterations, 5);
  EXPECT_EQ(dataset_in_json("{\"dataset\": \"pendulum\"}", "c"), "pendulum");
  EXPECT_EQ(dataset_in_json("{\"lr\": 1}", "c"), "");
  EXPECT_THROW(apply_config_file(s, "/nonexistent/config.json"), Error);
}

TEST(TrainSettings, ValidationNamesTheSetting) {
  TrainSettings s = make_dataset("oscillator").suggested;
  s.method = "reversible";
  EXPECT_EQ(effective_solver(s), "reversible:ralston3");
  s.method = "checkpoint:8";
  EXPECT_EQ(effective_solver(s), "ralston3");
  s.method = "magic";
  EXPECT_THROW(validate(s), Error);
  s.method = "backprop";
  s.solver = "rk99";
  EXPECT_THROW(validate(s), Error);
}

}  // namespace
}  // namespace revode
