/// A dataset for fitting a neural ODE to one trajectory: K times, the K states, and the
/// settings its published experiment used (shared/ALGORITHMS.md §6). The built-in ones are
/// the white dwarf (generated), the coupled oscillator and the double pendulum (real data,
/// data/schmidt-lipson/README.md); any CSV file is one too.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "revode/core/types.hpp"
#include "revode/train/train_settings.hpp"

namespace revode {

struct Dataset {
  std::string name;                  ///< registry name, or the CSV file's path
  std::vector<std::string> columns;  ///< one name per state component
  std::vector<double> times;         ///< K ≥ 2 strictly increasing times
  Batch<double> states;              ///< dim × K: column k is the state at times[k]
  TrainSettings suggested;           ///< the published settings (generic ones for a CSV)
  /// For generated data: the generator and every setting it ran with. Empty for data read
  /// from a file, whose values are then the identity.
  std::string recipe;

  Index dim() const { return states.rows(); }
  Index points() const { return states.cols(); }
  /// FNV-1a 64 as 16 hex digits, of the shape and the recipe for generated data (whose last
  /// bits differ between builds and machines: a checkpoint must move between a release and a
  /// sanitizer build), else of the bits of times and states: a checkpoint or a parameter file
  /// records it so a resumed run can tell that its data changed.
  std::string fingerprint() const;
};

/// The built-in dataset names: white-dwarf, oscillator, pendulum.
std::vector<std::string> dataset_names();

/// A built-in dataset by name, or a CSV file (any other name, read by read_csv_dataset).
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

/// A CSV file: a header row naming the columns, then one row per time: the time, then the
/// state. Commas separate values (spaces around them are allowed); empty lines and lines
/// starting with '#' are skipped. Times must be finite and strictly increasing.
/// Suggested: MLP dim → 32 tanh → dim, midpoint with one step per data interval (K − 1 equal
/// steps on [t_0, t_K−1], landing on every data time), AdamW lr 1e-2 wd 1e-5, 1000 iterations.
/// @throws revode::Error naming the file and line: no header, a wrong number of columns, a
/// value that is not a finite number, times not increasing, fewer than 2 rows.
Dataset read_csv_dataset(const std::string& path);

/// Where the built-in data files live: $REVODE_DATA_DIR if set, else the source tree's data/
/// as configured at build time.
std::string data_directory();

}  // namespace revode
