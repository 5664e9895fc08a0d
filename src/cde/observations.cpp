// Forward filling and the time and count channels of a CDE's control path.
#include "revode/cde/observations.hpp"

#include <cmath>

#include "revode/cde/control_path.hpp"
#include "revode/core/error.hpp"

namespace revode {

ObservationPath prepare_observations(std::vector<double> times, const ConstVectorRef<double>& raw,
                                     Index data_channels, Index batch, ObservationOptions o) {
  require(data_channels >= 1 && batch >= 1,
          "CDE observations: {} channels and batch {}; expected both >= 1", data_channels, batch);
  const Index knots = Index(times.size());
  ControlPath(times, Interpolation::linear);  // checks the times
  require(raw.size() == data_channels * knots * batch,
          "CDE observations have {} values; expected channels × times × batch = {} × {} × {} = {}",
          raw.size(), data_channels, knots, batch, data_channels * knots * batch);
  ObservationPath p;
  const Index counts = o.counts == CountChannels::per_channel ? data_channels
                       : o.counts == CountChannels::shared    ? 1
                                                              : 0;
  const Index first_data = o.time_channel ? 1 : 0;
  p.channels = first_data + data_channels + counts;
  p.knots = knots;
  p.batch = batch;
  p.values.resize(p.channels * knots * batch);
  p.source.assign(std::size_t(p.values.size()), -1);
  auto raw_at = [&](Index c, Index k, Index b) { return c + data_channels * (k + knots * b); };
  auto at = [&](Index c, Index k, Index b) { return c + p.channels * (k + knots * b); };
  for (Index b = 0; b < batch; ++b) {
    std::vector<double> seen_any(std::size_t(knots), 0);
    for (Index c = 0; c < data_channels; ++c) {
      Index first = -1;
      for (Index k = 0; k < knots && first < 0; ++k)
        if (!std::isnan(raw[raw_at(c, k, b)])) first = k;
      require(first >= 0,
              "CDE observations: channel {} of sample {} is missing (NaN) at every time; "
              "expected at least one observation per channel",
              c, b);
      Index last = raw_at(c, first, b);
      double count = 0;
      for (Index k = 0; k < knots; ++k) {
        const double v = raw[raw_at(c, k, b)];
        require(!std::isinf(v),
                "CDE observation (channel {}, time {}, sample {}) is {}; "
                "expected finite or NaN (missing)",
                c, k, b, v);
        if (!std::isnan(v)) {
          last = raw_at(c, k, b);
          count += 1;
          seen_any[std::size_t(k)] = 1;
        }
        p.values[at(first_data + c, k, b)] = raw[last];
        p.source[std::size_t(at(first_data + c, k, b))] = last;
        if (o.counts == CountChannels::per_channel)
          p.values[at(first_data + data_channels + c, k, b)] = count;
      }
    }
    double shared = 0;
    for (Index k = 0; k < knots; ++k) {
      if (o.time_channel) p.values[at(0, k, b)] = times[std::size_t(k)];
      shared += seen_any[std::size_t(k)];
      if (o.counts == CountChannels::shared)
        p.values[at(first_data + data_channels, k, b)] = shared;
    }
  }
  p.times = std::move(times);
  return p;
}

Vector<double> fold_observation_gradient(const ObservationPath& path, Index raw_size,
                                         const ConstVectorRef<double>& path_gradient) {
  require(path_gradient.size() == path.values.size(),
          "observation gradient has {} entries; expected {} (channels × times × batch)",
          path_gradient.size(), path.values.size());
  Vector<double> g = Vector<double>::Zero(raw_size);
  for (Index i = 0; i < path_gradient.size(); ++i) {
    const Index s = path.source[std::size_t(i)];
    if (s >= 0) {
      require(s < raw_size, "raw size {} is smaller than the observations' ({})", raw_size, s + 1);
      g[s] += path_gradient[i];
    }
  }
  return g;
}

}  // namespace revode
