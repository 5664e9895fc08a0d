#include "revode/cde/cde_spec.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "revode/cde/cde_field.hpp"
#include "revode/cde/observations.hpp"
#include "revode/core/error.hpp"
#include "revode/core/text_parsing.hpp"

namespace revode {
namespace {

struct CdeOptions {
  std::string path;
  Index hidden = 8;
  std::vector<Index> widths{32};
  Interpolation interpolation = Interpolation::hermite;
  ObservationOptions observations;
  bool tanh_output = true;
};

bool parse_yes_no(const std::string& field, std::string_view key, std::string_view value) {
  if (value == "yes" || value == "1" || value == "true") return true;
  if (value == "no" || value == "0" || value == "false") return false;
  throw Error(fmt::format("--field '{}': {}={}: expected yes or no", field, key, value));
}

Index parse_positive(const std::string& field, std::string_view key, std::string_view value) {
  const auto n = parse_count(value);
  require(n.has_value() && *n >= 1 && *n <= (1 << 20),
          "--field '{}': {}={}: expected an integer from 1 to 2^20", field, key, value);
  return Index(*n);
}

CdeOptions parse_options(const std::string& field) {
  CdeOptions o;
  std::string_view rest = std::string_view(field).substr(4);
  std::vector<std::string_view> parts;
  for (std::size_t at = 0; at <= rest.size();) {
    const std::size_t comma = std::min(rest.find(',', at), rest.size());
    parts.push_back(trim(rest.substr(at, comma - at)));
    at = comma + 1;
  }
  o.path = std::string(parts.front());
  require(!o.path.empty(), "--field '{}': expected cde:FILE[,hidden=H,widths=W1xW2,...]", field);
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::size_t eq = parts[i].find('=');
    require(eq != std::string_view::npos, "--field '{}': '{}' is not key=value", field, parts[i]);
    const std::string_view key = parts[i].substr(0, eq), value = parts[i].substr(eq + 1);
    if (key == "hidden") {
      o.hidden = parse_positive(field, key, value);
    } else if (key == "widths") {
      o.widths.clear();
      if (value == "none") continue;
      for (std::size_t at = 0; at <= value.size();) {
        const std::size_t x = std::min(value.find('x', at), value.size());
        o.widths.push_back(parse_positive(field, key, value.substr(at, x - at)));
        at = x + 1;
      }
    } else if (key == "interpolation") {
      o.interpolation = parse_interpolation(value);
    } else if (key == "counts") {
      if (value == "none")
        o.observations.counts = CountChannels::none;
      else if (value == "per-channel")
        o.observations.counts = CountChannels::per_channel;
      else if (value == "shared")
        o.observations.counts = CountChannels::shared;
      else
        throw Error(fmt::format("--field '{}': counts={}: expected none, per-channel or shared",
                                field, value));
    } else if (key == "time-channel") {
      o.observations.time_channel = parse_yes_no(field, key, value);
    } else if (key == "tanh") {
      o.tanh_output = parse_yes_no(field, key, value);
    } else {
      throw Error(
          fmt::format("--field '{}': unknown key '{}' (known: hidden, widths, "
                      "interpolation, counts, time-channel, tanh)",
                      field, key));
    }
  }
  return o;
}

struct RawObservations {
  std::vector<double> times;
  std::vector<double> values;  // per row: channels × batch, sample 0 first
  Index row_width = 0;
};

RawObservations read_observations(const std::string& path) {
  std::error_code error;  // a device or FIFO (/dev/zero) would be read forever
  require(std::filesystem::is_regular_file(path, error),
          "--field cde:{}: the observation file does not exist or is not a regular file", path);
  std::ifstream in(path);
  require(in.good(), "--field cde:{}: cannot open the observation file", path);
  RawObservations r;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    const std::string_view text = trim(line);
    if (text.empty() || text.front() == '#') continue;
    const std::vector<std::string_view> tokens = split_fields(text);
    std::vector<double> row;
    for (std::string_view token : tokens) {
      const auto v = parse_double(token);
      require(v.has_value(), "{} line {}: '{}' is not a number (nan marks a missing value)", path,
              number, token);
      row.push_back(*v);
    }
    require(row.size() >= 2, "{} line {}: {} entries; expected the time and at least one value",
            path, number, row.size());
    if (r.times.empty()) r.row_width = Index(row.size()) - 1;
    require(Index(row.size()) - 1 == r.row_width,
            "{} line {}: {} values after the time; expected {} as on the first row", path, number,
            row.size() - 1, r.row_width);
    r.times.push_back(row.front());
    r.values.insert(r.values.end(), row.begin() + 1, row.end());
  }
  require(!r.times.empty(), "{}: no observation rows", path);
  return r;
}

}  // namespace

template <class T>
CdeFieldBuild<T> build_cde_field(const std::string& field, Index batch, Activation activation,
                                 Init init, std::uint64_t seed) {
  const CdeOptions o = parse_options(field);
  const RawObservations raw = read_observations(o.path);
  require(batch >= 1 && raw.row_width % batch == 0,
          "{}: {} values per row do not split into --batch {} samples of equal channels", o.path,
          raw.row_width, batch);
  const Index channels = raw.row_width / batch;
  // The file's row layout (time k: channels × batch) to ObservationPath's (knot, then sample).
  const Index knots = Index(raw.times.size());
  Vector<double> values(channels * knots * batch);
  for (Index k = 0; k < knots; ++k)
    for (Index b = 0; b < batch; ++b)
      for (Index c = 0; c < channels; ++c)
        values[c + channels * (k + knots * b)] =
            raw.values[std::size_t(c + channels * b + raw.row_width * k)];
  const ObservationPath path =
      prepare_observations(raw.times, values, channels, batch, o.observations);
  const CdeSpec spec{o.hidden, o.widths, activation, o.tanh_output};
  auto cde = std::make_unique<CdeField<T>>(spec, ControlPath(raw.times, o.interpolation),
                                           path.channels, batch);
  CdeFieldBuild<T> out;
  out.theta = cde->init_params(init, seed, path.values);
  out.field = std::move(cde);
  out.t0 = raw.times.front();
  out.t1 = raw.times.back();
  return out;
}

template CdeFieldBuild<float> build_cde_field<float>(const std::string&, Index, Activation, Init,
                                                     std::uint64_t);
template CdeFieldBuild<double> build_cde_field<double>(const std::string&, Index, Activation, Init,
                                                       std::uint64_t);

}  // namespace revode
