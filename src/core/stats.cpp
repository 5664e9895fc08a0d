#include "revode/core/stats.hpp"

#include <fmt/format.h>

namespace revode {

std::string SolveStats::brief() const {
  return fmt::format(
      "steps {} (rejected {}), nfe {}, nvjp {}, stored_floats {}, recomputed_steps {}{}", steps,
      rejected, nfe, nvjp, stored_floats, recomputed_steps,
      reconstruction_error > 0 ? fmt::format(", reconstruction_error {:.2e}", reconstruction_error)
                               : std::string());
}

}  // namespace revode
