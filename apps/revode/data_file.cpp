#include "data_file.hpp"

#include <cmath>
#include <fstream>

#include "problem_options.hpp"
#include "revode/core/error.hpp"
#include "revode/core/text_parsing.hpp"

namespace revode::cli {
namespace {

/// One data row's numbers; `where` is "file 'x' line n" for messages.
/// Kept in double (the time must match the save times to 1e-9 relative even for float32);
/// each value must still be finite once rounded to T.
template <class T>
std::vector<double> parse_row(std::string_view text, const std::string& where) {
  std::vector<double> values;
  const auto fields = split_fields(text);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto value = parse_double(fields[i]);
    require(value.has_value(), "mse-data {}: column {} is '{}'; expected a number", where, i + 1,
            fields[i]);
    require(std::isfinite(T(*value)), "mse-data {}: column {} is {}; required: finite in {}", where,
            i + 1, *value, dtype_name<T>());
    values.push_back(*value);
  }
  return values;
}

/// "a … b" (or "a" for one time), short even for thousands of times.
std::string time_range(const std::vector<double>& ts) {
  if (ts.empty()) return "none";
  if (ts.size() == 1) return fmt::format("{}", ts.front());
  return fmt::format("{} … {}", ts.front(), ts.back());
}

}  // namespace

template <class T>
DataFile<T> read_data_file(const std::string& path, Index dim, Index batch) {
  std::ifstream in(path);
  require(in.good(), "mse-data file '{}' cannot be opened", path);
  DataFile<T> data{path, {}, {}, {}};
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    const std::string_view text = trim(line);
    if (text.empty() || text.front() == '#') continue;
    const std::string where = fmt::format("file '{}' line {}", path, number);
    const std::vector<double> row = parse_row<T>(text, where);
    const Index values = Index(row.size()) - 1;
    if (batch == 1)
      require(values == dim, "mse-data {}: {} columns; expected 1 + {} (the time, then the state)",
              where, row.size(), dim);
    require(values == dim || values == dim * batch,
            "mse-data {}: {} columns; expected 1 + {} (the time, then the state, broadcast over "
            "the batch) or 1 + {} (the time, then dim × batch = {} × {} values)",
            where, row.size(), dim, dim * batch, dim, batch);
    if (!data.blocks.empty())
      require(values == data.blocks.front().size(),
              "mse-data {}: {} columns, but line {} has {}; every row needs the same count", where,
              row.size(), data.lines.front(), data.blocks.front().size() + 1);
    data.lines.push_back(number);
    data.times.push_back(row.front());
    // Column-major: the values after the time are sample 0's state, then sample 1's, ...
    data.blocks.push_back(
        Eigen::Map<const Batch<double>>(row.data() + 1, dim, values / dim).template cast<T>());
  }
  require(!data.blocks.empty(), "mse-data file '{}' has no data rows", path);
  return data;
}

template <class T>
void check_data_times(const DataFile<T>& data, const std::vector<double>& save_times, double t0,
                      double t1) {
  require(data.times.size() == save_times.size(),
          "mse-data file '{}' has {} rows (times {}) but the solve saves at {} times ({}); use "
          "--saveat to match the data",
          data.path, data.times.size(), time_range(data.times), save_times.size(),
          time_range(save_times));
  const double tolerance = 1e-9 * std::abs(t1 - t0);
  for (std::size_t k = 0; k < save_times.size(); ++k)
    require(std::abs(data.times[k] - save_times[k]) <= tolerance,
            "mse-data file '{}' line {}: time {} does not match save time #{} = {} (tolerance "
            "1e-9 · |t1 − t0| = {})",
            data.path, data.lines[k], data.times[k], k, save_times[k], tolerance);
}

template DataFile<float> read_data_file<float>(const std::string&, Index, Index);
template DataFile<double> read_data_file<double>(const std::string&, Index, Index);
template void check_data_times<float>(const DataFile<float>&, const std::vector<double>&, double,
                                      double);
template void check_data_times<double>(const DataFile<double>&, const std::vector<double>&, double,
                                       double);

}  // namespace revode::cli
