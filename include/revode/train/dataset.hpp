/// A dataset for fitting a neural ODE: N ≥ 1 trajectories sampled at the same K times, their
/// states, and the settings its published experiment used (shared/ALGORITHMS.md §6). The
/// built-in ones are the white dwarf (generated), the coupled oscillator and the double
/// pendulum (real data, data/schmidt-lipson/README.md), and generated ensembles of an analytic
/// field from random initial states (ensemble:FIELD:N); any CSV file is one too (one
/// trajectory, or many with a `trajectory,t,...` header).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "revode/core/types.hpp"
#include "revode/train/train_settings.hpp"

namespace revode {

struct Dataset {
  std::string name;                  ///< registry name, or the CSV file's path
  std::vector<std::string> columns;  ///< one name per state component
  std::vector<double> times;         ///< K ≥ 2 strictly increasing times, shared by all
  /// dim × (N·K): column n·K + k is trajectory n's state at times[k] (N = 1: column k).
  Batch<double> states;
  TrainSettings suggested;           ///< the published settings (generic ones for a CSV)
  /// For generated data: the generator and every setting it ran with. Empty for data read
  /// from a file, whose values are then the identity.
  std::string recipe;

  Index dim() const { return states.rows(); }
  Index points() const { return Index(times.size()); }  ///< K
  Index trajectories() const { return points() > 0 ? states.cols() / points() : 0; }  ///< N
  /// Trajectory n's states, dim × K.
  auto trajectory(Index n) const { return states.middleCols(n * points(), points()); }
  /// FNV-1a 64 as 16 hex digits, of the shape and the recipe for generated data (whose last
  /// bits differ between builds and machines: a checkpoint must move between a release and a
  /// sanitizer build), else of the bits of times and states: a checkpoint or a parameter file
  /// records it so a resumed run can tell that its data changed.
  std::string fingerprint() const;
};

/// The built-in dataset names: white-dwarf, oscillator, pendulum (and ensemble:FIELD:N[:SEED]).
std::vector<std::string> dataset_names();

/// A built-in dataset by name, "ensemble:FIELD:N" or "ensemble:FIELD:N:SEED"
/// (ensemble_dataset), or a CSV file (any other name, read by read_csv_dataset).
/// @throws revode::Error from the loaders.
Dataset make_dataset(std::string_view name_or_path);

/// The white dwarf equation (WhiteDwarfField, C = 0.001) solved by dopri5 with rtol = atol =
/// 1e-12 from y(0) = (1, 0), saved at 1000 equally spaced times on [0, 5]. Suggested: MLP
/// [t, y] → 10 tanh → 2, midpoint with h = 0.005 (1000 steps; data times reached by dense
/// output, since 5/999 is not a multiple of h), AdamW lr 1e-2 wd 1e-5, 1000 iterations.
Dataset white_dwarf_dataset();

enum class SchmidtLipson {
  oscillator,  ///< real_double_linear_h_1.txt: x1 x2 v1 v2; first 3 s; state / 100
  pendulum,    ///< real_double_pend_h_1.txt: o1 o2 w1 w2 only; first 2 s; state / 10
};

/// Schmidt & Lipson's data prepared as data/schmidt-lipson/README.md says: time shifted to
/// start at 0, linearly interpolated onto 500 equally spaced points over the first 3 s (2 s),
/// the state divided by 100 (10). `path` empty: the file in data_directory().
/// Suggested: MLP 4 → 10 tanh → 4, AdamW lr 1e-2 wd 1e-5, 10,000 iterations; oscillator:
/// midpoint with h = 3/499 (499 steps, onto the data times); pendulum: bosh3, adaptive rtol =
/// atol = 1e-6, at most 1000 steps, data times by dense output.
/// @throws revode::Error naming the file and line of a malformed row, or a file too short.
Dataset schmidt_lipson_dataset(SchmidtLipson which, const std::string& path = "");

/// N trajectories of the analytic field `field` (fields/registry.hpp, its default θ) from
/// random initial states y0_i = default_y0_i · (1 + 0.5 u), u uniform in [−1, 1) drawn from
/// std::mt19937_64(seed) component by component, trajectory by trajectory (u = the top 53
/// bits of a draw · 2^-52 − 1, so the draws are the same with every standard library); solved
/// as one batch by dopri5 with rtol = atol = 1e-10, saved at 101 equally spaced times on the
/// field's suggested span. Suggested: MLP dim → 32 tanh → dim, midpoint with 100 steps,
/// AdamW lr 1e-2 wd 1e-5, 1000 iterations, full batch.
/// @throws revode::Error for an unknown field, N < 1 or N > 1,000,000, or a failed solve.
Dataset ensemble_dataset(std::string_view field, Index trajectories, std::uint64_t seed = 0);

/// A CSV file: a header row naming the columns, then one row per time: the time, then the
/// state. Commas separate values (spaces around them are allowed); empty lines and lines
/// starting with '#' are skipped. Times must be finite and strictly increasing.
/// Many trajectories: a header whose first two columns are `trajectory,t`; each row is an
/// integer trajectory id, the time, then the state. A trajectory's rows are contiguous (ids
/// need not be sorted; the file's order of first appearance is the dataset's order) and every
/// trajectory must have the same times: one time grid is what lets the trainer solve a batch
/// of trajectories as one batched solve, so a file with differing grids is refused, naming the
/// first trajectory and time that differ (resample it, or split it into files by grid).
/// Suggested: MLP dim → 32 tanh → dim, midpoint with one step per data interval (K − 1 equal
/// steps on [t_0, t_K−1], landing on every data time), AdamW lr 1e-2 wd 1e-5, 1000 iterations.
/// @throws revode::Error naming the file and line: no header, a wrong number of columns, a
/// value that is not a finite number, times not increasing, fewer than 2 rows; with
/// trajectories also an id that is not an integer, an id that reappears after another one's
/// rows, or a trajectory whose times differ from the first one's.
Dataset read_csv_dataset(const std::string& path);

/// A dataset from arrays (the Python revode.Dataset(times, states)): `times` K ≥ 2 finite,
/// strictly increasing times shared by every trajectory; `states` dim × (N·K) in the layout of
/// Dataset::states (column n·K + k: trajectory n at times[k]), every value finite; `columns`
/// one name per component (empty: y1, y2, ..., as the ensembles). Suggested: those of a CSV file
/// (read_csv_dataset). @throws revode::Error naming the first bad time, value or size.
Dataset array_dataset(std::string name, std::vector<std::string> columns,
                      std::vector<double> times, Batch<double> states);

/// Where the built-in data files live: $REVODE_DATA_DIR if set, else the source tree's data/
/// as configured at build time.
std::string data_directory();

}  // namespace revode
