/// Generated ensembles: many trajectories of an analytic field from random initial states, the
/// data of a data-parallel training run (docs/mpi.md).
#include <charconv>
#include <random>

#include "published_settings.hpp"
#include "revode/core/error.hpp"
#include "revode/fields/registry.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/train/dataset.hpp"

namespace revode {
namespace {

constexpr Index ensemble_points = 101;
constexpr Index max_trajectories = 1'000'000;

/// Uniform in [−1, 1) from the top 53 bits of one draw: unlike std::uniform_real_distribution,
/// the same numbers with every standard library.
double uniform_sign(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1p-52 - 1.0; }

}  // namespace

Dataset ensemble_dataset(std::string_view field_name, Index n, std::uint64_t seed) {
  const AnalyticFieldInfo& info = analytic_field_info(field_name);
  require(n >= 1 && n <= max_trajectories, "ensemble of {} trajectories; expected 1 … {}", n,
          max_trajectories);
  const auto field = make_analytic_field<double>(field_name);
  const Index dim = Index(info.default_y0.size());
  std::mt19937_64 rng(seed);
  Batch<double> y0(dim, n);
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i < dim; ++i)
      y0(i, j) = info.default_y0[std::size_t(i)] * (1.0 + 0.5 * uniform_sign(rng));
  AdaptiveSteps control;
  control.rtol = 1e-10;
  control.atol = 1e-10;
  control.max_steps = 1'000'000;
  const auto dopri5 = make_stepper<double>("dopri5");
  const Vector<double> theta = Eigen::Map<const Vector<double>>(info.default_params.data(),
                                                                Index(info.default_params.size()));
  const Solution<double> solution =
      solve<double>(*field, *dopri5, control, SaveAt::linspace(info.t0, info.t1, ensemble_points),
                    info.t0, info.t1, y0, theta);

  Dataset d;
  d.name = seed == 0 ? fmt::format("ensemble:{}:{}", field_name, n)
                     : fmt::format("ensemble:{}:{}:{}", field_name, n, seed);
  // The fingerprint names how the data were made (see white_dwarf.cpp); change this text
  // whenever the generation changes.
  d.recipe = fmt::format(
      "ensemble v1: {} default θ, {} trajectories, y0 = default · (1 + 0.5 u), u uniform [−1, 1) "
      "from mt19937_64({}), dopri5 rtol = atol = 1e-10, {} equally spaced times on [{}, {}]",
      field_name, n, seed, ensemble_points, info.t0, info.t1);
  for (Index i = 0; i < dim; ++i) d.columns.push_back(fmt::format("y{}", i + 1));
  d.times = solution.ts;
  d.states.resize(dim, n * ensemble_points);
  for (Index j = 0; j < n; ++j)
    for (Index k = 0; k < ensemble_points; ++k)
      d.states.col(j * ensemble_points + k) = solution.ys[std::size_t(k)].col(j);
  d.suggested = detail::published_settings(d.name, {dim, 32, dim}, /*time_input=*/false, 1000);
  d.suggested.solver = "midpoint";
  d.suggested.control = FixedSteps{ensemble_points - 1, 0.0};
  return d;
}

}  // namespace revode
