/// The TrainField of a "cde:" field (see cde_train_field.hpp).
#include "revode/train/cde_train_field.hpp"

#include <fmt/format.h>

#include "revode/cde/cde_field.hpp"
#include "revode/cde/cde_network_field.hpp"
#include "revode/cde/cde_spec.hpp"
#include "revode/core/error.hpp"

namespace revode {

TrainField cde_train_field(const TrainSettings& s, const Dataset& data) {
  CdeFieldBuild<double> built;
  try {
    built =
        build_cde_field<double>(s.field, data.trajectories(), s.model.activation, s.init, s.seed);
  } catch (const Error& e) {
    throw Error(
        fmt::format("field '{}' over dataset '{}' ({} trajectories; the file's sample b "
                    "drives trajectory b, so it must hold {} samples): {}",
                    s.field, data.name, data.trajectories(), data.trajectories(), e.what()));
  }
  std::unique_ptr<CdeField<double>> cde(static_cast<CdeField<double>*>(built.field.release()));
  Vector<double> network = built.theta.head(cde->network_param_count());
  Vector<double> observations = built.theta.tail(cde->observation_count());
  auto field = std::make_unique<CdeNetworkField<double>>(std::move(cde), std::move(observations));
  // Mini-batches and chunks solve a CDE over their own trajectories' paths.
  std::shared_ptr<const CdeNetworkField<double>> all(
      static_cast<CdeNetworkField<double>*>(field->clone().release()));
  auto columns = [all](const std::vector<Index>& ids) -> std::unique_ptr<VectorField<double>> {
    return all->columns(ids);
  };
  return {std::move(field), std::move(network), std::move(columns)};
}

}  // namespace revode
