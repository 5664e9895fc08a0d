/// From raw, possibly missing observations to the dense path values a ControlPath interpolates,
/// as torchcde documents for irregular data: missing values (NaN) are filled forward (leading
/// gaps take the first observed value), an optional time channel comes first, and optional
/// observation-count channels (the cumulative number of observations, torchcde's
/// `mask.cumsum`) come last, so that the model can see *when* data arrived.
/// Irregular times per sample: put every sample on the union of the times and mark the
/// entries a sample did not observe as NaN.
#pragma once

#include <vector>

#include "revode/core/types.hpp"

namespace revode {

enum class CountChannels {
  none,
  per_channel,  ///< one count channel per data channel (torchcde's recommendation)
  shared,       ///< one channel: the number of knots at which any channel was observed
};

struct ObservationOptions {
  bool time_channel = true;
  CountChannels counts = CountChannels::per_channel;
};

/// The dense values of a control path. Layout of `values`: channel fastest, then knot, then
/// sample: values[c + channels·(k + knots·b)]; this is also the layout of the observation part
/// of a CdeField's θ.
struct ObservationPath {
  std::vector<double> times;
  Index channels = 0;
  Index knots = 0;
  Index batch = 0;
  Vector<double> values;
  /// For each entry of `values`, the raw entry it was copied from (after forward filling),
  /// or −1 for time and count channels: what fold_observation_gradient sums over.
  std::vector<Index> source;
};

/// @param raw data_channels × knots × batch in the same layout (NaN = missing).
/// @throws revode::Error when raw has the wrong size, a value is ±Inf, the times are not
///   finite and strictly increasing, or a data channel of a sample has no observation at all.
ObservationPath prepare_observations(std::vector<double> times, const ConstVectorRef<double>& raw,
                                     Index data_channels, Index batch,
                                     ObservationOptions options = {});

/// The gradient with respect to the raw observations (data_channels × knots × batch; zero at
/// missing entries) from the gradient with respect to the dense path values: each raw value
/// collects the gradient of every entry it was filled into.
Vector<double> fold_observation_gradient(const ObservationPath& path, Index raw_size,
                                         const ConstVectorRef<double>& path_gradient);

}  // namespace revode
