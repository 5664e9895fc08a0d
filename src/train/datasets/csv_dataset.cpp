/// A user's CSV file as a dataset: header row, then time and state per row.
#include <fstream>

#include "parse_number.hpp"
#include "published_settings.hpp"
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

}  // namespace

Dataset read_csv_dataset(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), "CSV file '{}' cannot be opened", path);
  Dataset d;
  d.name = path;
  std::vector<std::string> header;
  std::vector<double> values;  // the states, row after row
  std::size_t previous_line = 0;
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
    for (std::size_t c = 0; c < fields.size(); ++c) {
      double value = 0;
      require(detail::parse_finite(fields[c], value),
              "CSV file '{}' line {}, column {} ('{}'): '{}' is not a finite number", path,
              number, c + 1, header[c], fields[c]);
      if (c == 0) {
        require(d.times.empty() || value > d.times.back(),
                "CSV file '{}' line {}: time {} is not after the time {} on line {}; times "
                "must increase strictly",
                path, number, value, d.times.empty() ? 0.0 : d.times.back(), previous_line);
        d.times.push_back(value);
      } else {
        values.push_back(value);
      }
    }
    previous_line = number;
  }
  require(!header.empty(), "CSV file '{}' is empty: expected a header row and data rows", path);
  require(d.times.size() >= 2, "CSV file '{}' has {} data row(s); at least 2 are needed", path,
          d.times.size());
  const Index dim = Index(header.size()) - 1, points = Index(d.times.size());
  d.columns.assign(header.begin() + 1, header.end());
  d.states = Eigen::Map<const Batch<double>>(values.data(), dim, points);
  d.suggested = detail::published_settings(path, {dim, 32, dim}, /*time_input=*/false, 1000);
  d.suggested.solver = "midpoint";
  d.suggested.control = FixedSteps{points - 1, 0.0};
  return d;
}

}  // namespace revode
