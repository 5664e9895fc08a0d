/// revode.sde_field: an SDE dy = f dt + g(t, y) ∘ dW as a revode.Field whose eval is the drift,
/// so revode.solve and revode.gradient take it as they take any field; build_problem then picks
/// the SDE form of the solver over a Brownian tree from the field's seed (docs/sde.md).
#pragma once

#include <cstdint>
#include <memory>

#include "field_handle.hpp"
#include "problem.hpp"
#include "revode/sde/sde_field.hpp"

namespace revode::python {

struct SdeHandle final : FieldHandle {
  std::shared_ptr<FieldHandle> drift;
  std::string diffusion;
  NoiseType noise = NoiseType::diagonal;
  Index noise_dim = 0;
  std::int64_t brownian_seed = 0;
};

/// The SDE stepper for `args.solver` when `field` is an SdeHandle (nullptr otherwise), with a
/// Brownian tree over [min(t0, t1), max(t0, t1)]. Throws for dense output.
template <class T>
std::unique_ptr<Stepper<T>> sde_stepper_or_null(const FieldHandle& field, const ProblemArgs& args,
                                                const Problem<T>& p);

extern template std::unique_ptr<Stepper<float>> sde_stepper_or_null<float>(const FieldHandle&,
                                                                           const ProblemArgs&,
                                                                           const Problem<float>&);
extern template std::unique_ptr<Stepper<double>> sde_stepper_or_null<double>(
    const FieldHandle&, const ProblemArgs&, const Problem<double>&);

}  // namespace revode::python
