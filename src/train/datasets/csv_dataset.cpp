/// A user's CSV file as a dataset: header row, then time and state per row (or trajectory id,
/// time and state per row).
#include <algorithm>
#include <charconv>
#include <fstream>
#include <utility>

#include "parse_number.hpp"
#include "revode/core/error.hpp"
#include "revode/train/dataset.hpp"

namespace revode {
namespace {

std::vector<std::string_view> split_commas(std::string_view line) {
  std::vector<std::string_view> fields;
  for (std::size_t start = 0;;) {
    const std::size_t comma = line.find(',', start);
    fields.push_back(detail::trim(line.substr(start, comma - start)));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

/// Parses rows of a file with a `trajectory,t,...` header, checking every trajectory against
/// the first one's time grid.
class TrajectoryRows {
 public:
  TrajectoryRows(const std::string& path, Dataset& d) : path_(path), d_(d) {}

  /// The id field of the row on `line`; starts a new trajectory when it changes.
  void id(std::string_view field, std::size_t line) {
    long long id = 0;
    const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), id);
    require(!field.empty() && ec == std::errc() && end == field.data() + field.size(),
            "CSV file '{}' line {}, column 1 ('trajectory'): '{}' is not an integer trajectory id",
            path_, line, field);
    if (!ids_.empty() && id == ids_.back()) return;
    if (!ids_.empty()) finish(line);
    require(std::find(ids_.begin(), ids_.end(), id) == ids_.end(),
            "CSV file '{}' line {}: trajectory {} appears again after other trajectories' rows; "
            "a trajectory's rows must be contiguous",
            path_, line, id);
    ids_.push_back(id);
    k_ = 0;
  }

  /// The time of the row on `line`, the k-th of its trajectory.
  void time(double t, std::size_t line) {
    if (ids_.size() == 1) {
      require(d_.times.empty() || t > d_.times.back(),
              "CSV file '{}' line {}: time {} of trajectory {} is not after the time {} on line "
              "{}; times must increase strictly",
              path_, line, t, ids_.back(), d_.times.empty() ? 0.0 : d_.times.back(), previous_);
      d_.times.push_back(t);
    } else {
      require(k_ < d_.times.size() && t == d_.times[k_],
              "CSV file '{}' line {}: trajectory {} has time {} where trajectory {} has {}; all "
              "trajectories must share one time grid (resample them, or split the file by grid)",
              path_, line, ids_.back(), t, ids_.front(),
              k_ < d_.times.size() ? fmt::format("{}", d_.times[k_]) : std::string("no more rows"));
    }
    ++k_;
    previous_ = line;
  }

  /// Checks that the trajectory just read has all the first one's times.
  void finish(std::size_t line) const {
    require(ids_.size() == 1 || k_ == d_.times.size(),
            "CSV file '{}' line {}: trajectory {} has {} rows but trajectory {} has {}; all "
            "trajectories must share one time grid",
            path_, line, ids_.back(), k_, ids_.front(), d_.times.size());
  }

 private:
  const std::string& path_;
  Dataset& d_;
  std::vector<long long> ids_;
  std::size_t k_ = 0, previous_ = 0;
};

}  // namespace

Dataset read_csv_dataset(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), "CSV file '{}' cannot be opened", path);
  Dataset d;
  d.name = path;
  std::vector<std::string> header;
  std::vector<double> values;  // the states, row after row
  bool many = false;           // a `trajectory,t,...` header
  TrajectoryRows trajectories(path, d);
  std::size_t previous_line = 0, last_line = 0;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    const std::string_view content = detail::trim(line);
    if (content.empty() || content.front() == '#') continue;
    const auto fields = split_commas(content);
    if (header.empty()) {
      double ignored = 0;
      require(!detail::parse_finite(fields.front(), ignored),
              "CSV file '{}' line {}: expected a header row naming the columns (e.g. "
              "t,x,y), got a number",
              path, number);
      many = fields.front() == "trajectory";
      require(!many || (fields.size() >= 3 && fields[1] == "t"),
              "CSV file '{}' line {}: a header starting 'trajectory' must continue with 't' and "
              "at least one state column (trajectory,t,x,...)",
              path, number);
      require(fields.size() >= 2,
              "CSV file '{}' line {}: the header names {} column; expected the time and at "
              "least one state column, separated by commas",
              path, number, fields.size());
      for (const auto name : fields) {
        require(!name.empty(), "CSV file '{}' line {}: an empty column name", path, number);
        header.emplace_back(name);
      }
      continue;
    }
    require(fields.size() == header.size(),
            "CSV file '{}' line {}: {} values; expected {} (one per header column)", path,
            number, fields.size(), header.size());
    const std::size_t time_column = many ? 1 : 0;
    if (many) trajectories.id(fields[0], number);
    for (std::size_t c = time_column; c < fields.size(); ++c) {
      double value = 0;
      require(detail::parse_finite(fields[c], value),
              "CSV file '{}' line {}, column {} ('{}'): '{}' is not a finite number", path,
              number, c + 1, header[c], fields[c]);
      if (c > time_column) {
        values.push_back(value);
      } else if (many) {
        trajectories.time(value, number);
      } else {
        require(d.times.empty() || value > d.times.back(),
                "CSV file '{}' line {}: time {} is not after the time {} on line {}; times "
                "must increase strictly",
                path, number, value, d.times.empty() ? 0.0 : d.times.back(), previous_line);
        d.times.push_back(value);
      }
    }
    previous_line = last_line = number;
  }
  require(!header.empty(), "CSV file '{}' is empty: expected a header row and data rows", path);
  if (many && !values.empty()) trajectories.finish(last_line);
  require(d.times.size() >= 2, "CSV file '{}' has {} data row(s){}; at least 2 are needed", path,
          d.times.size(), many ? " per trajectory" : "");
  const Index state_offset = many ? 2 : 1;
  const Index dim = Index(header.size()) - state_offset;
  return array_dataset(path, {header.begin() + state_offset, header.end()}, std::move(d.times),
                       Eigen::Map<const Batch<double>>(values.data(), dim,
                                                       Index(values.size()) / dim));
}

}  // namespace revode
