/// A dataset from arrays (times, states and component names given by the caller), and the
/// settings suggested for any dataset without a published experiment (CSV files, arrays).
#include <cmath>
#include <utility>

#include "published_settings.hpp"
#include "revode/core/error.hpp"
#include "revode/train/dataset.hpp"

namespace revode {

Dataset array_dataset(std::string name, std::vector<std::string> columns, std::vector<double> times,
                      Batch<double> states) {
  const Index points = Index(times.size()), dim = states.rows();
  require(points >= 2, "dataset '{}': {} time(s); at least 2 are needed", name, points);
  for (Index k = 0; k < points; ++k) {
    const double t = times[std::size_t(k)];
    require(std::isfinite(t), "dataset '{}': time {} is {}; times must be finite", name, k, t);
    require(k == 0 || t > times[std::size_t(k - 1)],
            "dataset '{}': time {} ({}) is not after time {} ({}); times must increase strictly",
            name, k, t, k - 1, times[std::size_t(k - 1)]);
  }
  require(dim >= 1 && states.cols() >= points && states.cols() % points == 0,
          "dataset '{}': states are {} × {}; expected dim ≥ 1 rows and N·K columns for K = {} "
          "times (N ≥ 1 trajectories)",
          name, dim, states.cols(), points);
  for (Index j = 0; j < states.cols(); ++j)
    for (Index i = 0; i < dim; ++i)
      require(std::isfinite(states(i, j)),
              "dataset '{}': trajectory {}, time {}, component {} is {}; states must be finite",
              name, j / points, j % points, i, states(i, j));
  if (columns.empty())
    for (Index i = 0; i < dim; ++i) columns.push_back(fmt::format("y{}", i + 1));
  require(Index(columns.size()) == dim, "dataset '{}': {} column names for {} state components",
          name, columns.size(), dim);
  Dataset d;
  d.suggested = detail::published_settings(name, {dim, 32, dim}, /*time_input=*/false, 1000);
  d.suggested.solver = "midpoint";
  d.suggested.control = FixedSteps{points - 1, 0.0};  // one step per data interval
  d.name = std::move(name);
  d.columns = std::move(columns);
  d.times = std::move(times);
  d.states = std::move(states);
  return d;
}

}  // namespace revode
