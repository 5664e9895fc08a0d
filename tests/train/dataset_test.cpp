// The datasets: the generated white dwarf, Schmidt & Lipson's data prepared as their README
// says (checked against values worked out from the raw rows), and CSV files with their errors.
#include <gtest/gtest.h>

#include <limits>

#include "revode/core/error.hpp"
#include "revode/fields/white_dwarf.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/train/dataset.hpp"
#include "temp_file.hpp"
#include "support/error_of.hpp"

namespace revode {
namespace {

using testing::error_of;

using testing::TempFile;

/// The message of the revode::Error that `body` throws ("" when it throws none).
TEST(WhiteDwarfDataset, IsAnAccurateSolveOnThePublishedGrid) {
  const Dataset d = white_dwarf_dataset();
  ASSERT_EQ(d.dim(), 2);
  ASSERT_EQ(d.points(), 1000);
  EXPECT_EQ(d.times.front(), 0.0);
  EXPECT_EQ(d.times.back(), 5.0);
  EXPECT_EQ(d.states(0, 0), 1.0);
  EXPECT_EQ(d.states(1, 0), 0.0);
  // An independent solver at a looser tolerance agrees at t = 5 to well below 1e-8.
  const WhiteDwarfField<double> field;
  Batch<double> y0(2, 1);
  y0 << 1.0, 0.0;
  AdaptiveSteps control;
  control.rtol = control.atol = 1e-11;
  const auto tsit5 = make_stepper<double>("tsit5");
  const auto check = solve<double>(field, *tsit5, control, SaveAt::final_time(5.0), 0.0, 5.0,
                                   y0, field.default_params());
  EXPECT_NEAR(check.ys.back()(0, 0), d.states(0, 999), 1e-8);
  EXPECT_NEAR(check.ys.back()(1, 0), d.states(1, 999), 1e-8);
  const TrainSettings& s = d.suggested;
  EXPECT_EQ(s.model.widths, (std::vector<Index>{2, 10, 2}));
  EXPECT_TRUE(s.model.time_input);
  EXPECT_EQ(s.solver, "midpoint");
  EXPECT_EQ(std::get<FixedSteps>(s.control).steps, 1000);
  EXPECT_EQ(s.optimizer.kind, OptimizerKind::adamw);
  EXPECT_EQ(s.lr, 1e-2);
  EXPECT_EQ(s.optimizer.weight_decay, 1e-5);
}

TEST(SchmidtLipson, OscillatorFollowsTheReadme) {
  const Dataset d = make_dataset("oscillator");
  ASSERT_EQ(d.dim(), 4);
  ASSERT_EQ(d.points(), 500);
  EXPECT_EQ(d.times.front(), 0.0);
  EXPECT_EQ(d.times.back(), 3.0);
  EXPECT_NEAR(d.times[1], 3.0 / 499, 1e-15);
  // Rows 1 and 2 of the file: t = 0.033, 0.067; x1 = 0, −1; x2 = −143, −143. Shifted, the
  // first interval is [0, 0.034]; grid time 3/499 lies in it.
  const double s = (3.0 / 499) / (0.067 - 0.033);
  EXPECT_EQ(d.states(0, 0), 0.0);
  EXPECT_EQ(d.states(1, 0), -1.43);
  EXPECT_NEAR(d.states(0, 1), -1.0 * s / 100, 1e-12);
  EXPECT_NEAR(d.states(1, 1), -1.43, 1e-12);
  EXPECT_NEAR(d.states(2, 0), -1.4091579646402036, 1e-15);
  EXPECT_EQ(std::get<FixedSteps>(d.suggested.control).steps, 499);
  EXPECT_EQ(d.suggested.model.widths, (std::vector<Index>{4, 10, 4}));
  EXPECT_EQ(d.suggested.iterations, 10000);
}

TEST(SchmidtLipson, PendulumUsesFourColumnsOverTwoSeconds) {
  const Dataset d = make_dataset("pendulum");
  ASSERT_EQ(d.dim(), 4);
  ASSERT_EQ(d.points(), 500);
  EXPECT_EQ(d.times.back(), 2.0);
  EXPECT_EQ(d.columns, (std::vector<std::string>{"o1", "o2", "w1", "w2"}));
  EXPECT_NEAR(d.states(0, 0), -0.11336150169372559, 1e-15);
  EXPECT_NEAR(d.states(3, 0), -0.61550583839416504, 1e-15);
  const auto& adaptive = std::get<AdaptiveSteps>(d.suggested.control);
  EXPECT_EQ(d.suggested.solver, "bosh3");
  EXPECT_EQ(adaptive.rtol, 1e-6);
  EXPECT_EQ(adaptive.atol, 1e-6);
  EXPECT_EQ(adaptive.max_steps, 1000);
}

TEST(CsvDataset, ReadsHeaderCommentsAndSpaces) {
  TempFile file("good.csv", "# a comment\n t , x, y\n\n0, 1, 2\n0.5,1.5 ,2.5\n1.0, 2, +3e0\n");
  const Dataset d = make_dataset(file.path());
  EXPECT_EQ(d.columns, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(d.times, (std::vector<double>{0.0, 0.5, 1.0}));
  EXPECT_EQ(d.states(0, 1), 1.5);
  EXPECT_EQ(d.states(1, 2), 3.0);
  EXPECT_EQ(d.suggested.model.widths, (std::vector<Index>{2, 32, 2}));
  EXPECT_EQ(std::get<FixedSteps>(d.suggested.control).steps, 2);
}

TEST(CsvDataset, ErrorsNameTheLine) {
  const auto error = [](const std::string& contents) {
    TempFile file("bad.csv", contents);
    return error_of([&] { read_csv_dataset(file.path()); });
  };
  EXPECT_NE(error("t,x\n0,1\n0.5,abc\n").find("line 3, column 2 ('x'): 'abc'"), std::string::npos)
      << error("t,x\n0,1\n0.5,abc\n");
  EXPECT_NE(error("t,x\n0,1\n\n1,2,3\n").find("line 4: 3 values; expected 2"), std::string::npos);
  EXPECT_NE(error("t,x\n0,1\n1,2\n1,3\n").find("line 4: time 1 is not after the time 1 on line 3"),
            std::string::npos);
  EXPECT_NE(error("0,1\n1,2\n").find("line 1: expected a header row"), std::string::npos);
  EXPECT_NE(error("t,x\n0,1\n").find("1 data row(s)"), std::string::npos);
  EXPECT_NE(error("t,x\n0,1\n1,nan\n").find("line 3"), std::string::npos);
  EXPECT_NE(error("\n").find("is empty"), std::string::npos);
  EXPECT_NE(error_of([] { make_dataset("/nonexistent/data.csv"); }).find("cannot be opened"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_dataset("lorenz"); }).find("known: white-dwarf"),
            std::string::npos);
}

TEST(ArrayDataset, KeepsTheLayoutAndNamesBadValues) {
  Batch<double> states(2, 6);  // two trajectories at three times
  states << 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;
  const Dataset d = array_dataset("mine", {}, {0.0, 0.5, 1.0}, states);
  EXPECT_EQ(d.trajectories(), 2);
  EXPECT_EQ(d.columns, (std::vector<std::string>{"y1", "y2"}));
  EXPECT_EQ(d.trajectory(1)(0, 0), 4.0);
  EXPECT_EQ(std::get<FixedSteps>(d.suggested.control).steps, 2);
  EXPECT_EQ(d.suggested.dataset, "mine");
  EXPECT_NE(error_of([&] { array_dataset("a", {}, {0.0, 0.5, 0.5}, states); })
                .find("time 2 (0.5) is not after time 1 (0.5)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { array_dataset("a", {}, {0.0, 1.0, 2.0, 3.0}, states); })
                .find("states are 2 × 6; expected dim ≥ 1 rows and N·K columns for K = 4"),
            std::string::npos);
  EXPECT_NE(error_of([&] { array_dataset("a", {}, {0.0}, states.leftCols(1)); })
                .find("1 time(s); at least 2"),
            std::string::npos);
  Batch<double> bad = states;
  bad(1, 4) = std::numeric_limits<double>::infinity();
  EXPECT_NE(error_of([&] { array_dataset("a", {}, {0.0, 0.5, 1.0}, bad); })
                .find("trajectory 1, time 1, component 1 is inf"),
            std::string::npos);
  EXPECT_NE(error_of([&] { array_dataset("a", {"x"}, {0.0, 0.5, 1.0}, states); })
                .find("1 column names for 2 state components"),
            std::string::npos);
}

TEST(Dataset, FingerprintSeesEveryBit) {
  Dataset a = make_dataset("oscillator");
  const std::string before = a.fingerprint();
  a.states(3, 250) = std::nextafter(a.states(3, 250), 1.0);
  EXPECT_NE(a.fingerprint(), before);
  EXPECT_EQ(before.size(), 16u);
}

}  // namespace
}  // namespace revode
