/// Schmidt & Lipson's motion-tracking data (coupled oscillator, double pendulum), prepared
/// exactly as data/schmidt-lipson/README.md records for the published experiments.
#include <array>
#include <fstream>
#include <sstream>

#include "parse_number.hpp"
#include "published_settings.hpp"
#include "revode/core/error.hpp"
#include "revode/train/dataset.hpp"

namespace revode {
namespace {

constexpr Index state_columns = 4;  // the four columns after the time
constexpr Index grid_points = 500;

struct RawTrajectory {
  std::vector<double> times;
  std::vector<std::array<double, state_columns>> states;
};

/// Whitespace-separated rows, '%' comment lines: column 0 (always 0), the time, the state,
/// then any further columns (ignored: the pendulum file has four more).
RawTrajectory read_raw(const std::string& path) {
  std::ifstream in(path);
  require(in.good(),
          "data file '{}' cannot be opened (set REVODE_DATA_DIR to the folder holding "
          "schmidt-lipson/)",
          path);
  RawTrajectory raw;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (detail::trim(line).empty() || detail::trim(line).front() == '%') continue;
    std::istringstream fields(line);
    std::vector<double> values;
    for (std::string token; fields >> token;) {
      double value = 0;
      require(detail::parse_finite(token, value), "data file '{}' line {}: '{}' is not a finite "
              "number", path, number, token);
      values.push_back(value);
    }
    require(Index(values.size()) >= 2 + state_columns,
            "data file '{}' line {}: {} columns; expected at least {} (0, time, 4 state values)",
            path, number, values.size(), 2 + state_columns);
    require(raw.times.empty() || values[1] > raw.times.back(),
            "data file '{}' line {}: time {} is not after the previous time {}", path, number,
            values[1], raw.times.empty() ? 0.0 : raw.times.back());
    raw.times.push_back(values[1]);
    raw.states.push_back({values[2], values[3], values[4], values[5]});
  }
  return raw;
}

/// The README's recipe: t − t_0, then linear interpolation onto `grid_points` equally spaced
/// times over [0, span], then the state divided by `divisor`.
Batch<double> prepare(const RawTrajectory& raw, const std::string& path, double span,
                      double divisor, std::vector<double>& grid) {
  require(raw.times.size() >= 2 && raw.times.back() - raw.times.front() >= span,
          "data file '{}' covers {} s; the experiment needs the first {} s", path,
          raw.times.empty() ? 0.0 : raw.times.back() - raw.times.front(), span);
  grid.resize(std::size_t(grid_points));
  Batch<double> states(state_columns, grid_points);
  const double start = raw.times.front();
  std::size_t j = 0;  // the raw interval [t_j, t_j+1] holding the grid time
  for (Index k = 0; k < grid_points; ++k) {
    const double t = k + 1 == grid_points ? span : span * double(k) / double(grid_points - 1);
    grid[std::size_t(k)] = t;
    while (j + 2 < raw.times.size() && raw.times[j + 1] - start < t) ++j;
    const double ta = raw.times[j] - start, tb = raw.times[j + 1] - start;
    for (Index i = 0; i < state_columns; ++i) {
      const double ya = raw.states[j][std::size_t(i)], yb = raw.states[j + 1][std::size_t(i)];
      states(i, k) = ((yb - ya) / (tb - ta) * (t - ta) + ya) / divisor;  // numpy.interp's form
    }
  }
  return states;
}

}  // namespace

Dataset schmidt_lipson_dataset(SchmidtLipson which, const std::string& path) {
  const bool oscillator = which == SchmidtLipson::oscillator;
  const std::string file =
      !path.empty() ? path
                    : data_directory() + "/schmidt-lipson/" +
                          (oscillator ? "real_double_linear_h_1.txt" : "real_double_pend_h_1.txt");
  const double span = oscillator ? 3.0 : 2.0;
  Dataset d;
  d.name = oscillator ? "oscillator" : "pendulum";
  d.columns = oscillator ? std::vector<std::string>{"x1", "x2", "v1", "v2"}
                         : std::vector<std::string>{"o1", "o2", "w1", "w2"};
  d.states = prepare(read_raw(file), file, span, oscillator ? 100.0 : 10.0, d.times);
  d.suggested = detail::published_settings(d.name, {4, 10, 4}, /*time_input=*/false, 10'000);
  if (oscillator) {
    // The authors' code trains the oscillator with Ralston's third-order method (their
    // "RK3Simple": c = 0, 1/2, 3/4; b = 2/9, 1/3, 4/9), whose runs the published loss reports.
    d.suggested.solver = "ralston3";
    d.suggested.control = FixedSteps{grid_points - 1, 0.0};  // h = 3/499: one step per point
  } else {
    d.suggested.solver = "bosh3";
    AdaptiveSteps adaptive;
    adaptive.rtol = 1e-6;
    adaptive.atol = 1e-6;
    adaptive.max_steps = 1000;
    d.suggested.control = adaptive;
    d.suggested.dense = true;  // steps chosen by the error alone, as with diffrax's SaveAt(ts)
  }
  return d;
}

}  // namespace revode
