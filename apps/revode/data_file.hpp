/// The data file of `--loss mse-data:FILE` (format in docs/cli.md): one row per save time,
/// comma- or whitespace-separated, the time first, then dim values (broadcast over the batch)
/// or dim × batch values (column-major: sample 0's state first). '#' starts a comment line.
#pragma once

#include <string>
#include <vector>

#include "revode/core/types.hpp"

namespace revode::cli {

template <class T>
struct DataFile {
  std::string path;
  std::vector<std::size_t> lines;  ///< the line number of each row, for error messages
  std::vector<double> times;
  std::vector<Batch<T>> blocks;  ///< dim × 1 or dim × batch per row
};

/// Reads and checks the file. Throws revode::Error naming the file and line: a value that is
/// not a number or not finite in T, a wrong number of columns, no rows at all.
template <class T>
DataFile<T> read_data_file(const std::string& path, Index dim, Index batch);

/// Throws revode::Error unless the data times match `save_times` (same count, each within
/// 1e-9 · |t1 − t0|).
template <class T>
void check_data_times(const DataFile<T>& data, const std::vector<double>& save_times, double t0,
                      double t1);

extern template DataFile<float> read_data_file<float>(const std::string&, Index, Index);
extern template DataFile<double> read_data_file<double>(const std::string&, Index, Index);
extern template void check_data_times<float>(const DataFile<float>&, const std::vector<double>&,
                                             double, double);
extern template void check_data_times<double>(const DataFile<double>&, const std::vector<double>&,
                                              double, double);

}  // namespace revode::cli
