/// Solvers by name: every built-in tableau as an explicit RK stepper, and the reversible
/// solvers: "reversible:<tableau>" (McCallum–Foster over that tableau), "reversible-heun" and
/// "alf" (asynchronous leapfrog), and the symmetric compositions "alf-yoshida4", "alf-suzuki4",
/// "alf-yoshida6" and "reversible-heun-yoshida4" (reversible/composition.hpp). The CLI and the
/// Python module resolve `--solver` through this.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "revode/solvers/stepper.hpp"

namespace revode {

/// Options of the solvers that have any (ignored by the others).
struct SolverOptions {
  double coupling = 0.999;  ///< McCallum–Foster λ ∈ (0, 1]
  double damping = 1.0;     ///< asynchronous leapfrog η ∈ (0, 1]
};

/// The solver called `name`; throws revode::Error listing the known names otherwise.
template <class T>
std::unique_ptr<Stepper<T>> make_stepper(std::string_view name, const SolverOptions& options = {});

/// Every name `make_stepper` accepts, in registry order.
std::vector<std::string> solver_names();

}  // namespace revode
