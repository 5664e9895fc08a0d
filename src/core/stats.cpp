#include "revode/core/stats.hpp"

#include <fmt/format.h>

namespace revode {

std::string SolveStats::brief() const {
  std::string guard_part;
  if (guard.repaired)
    guard_part = fmt::format(", guard repaired a drift of {:.2e} with {} anchors", guard.drift,
                             guard.anchors);
  else if (guard.flagged)
    guard_part = fmt::format(", guard flagged a drift of {:.2e}", guard.drift);
  if (spread.chunks > 0)
    guard_part += fmt::format(
        ", over {} chunks: steps min/median/max {}/{}/{}, rejected min/median/max {}/{}/{}",
        spread.chunks, spread.min_steps, spread.median_steps, spread.max_steps, spread.min_rejected,
        spread.median_rejected, spread.max_rejected);
  return fmt::format(
      "steps {} (rejected {}), nfe {}, nvjp {}, stored_floats {}, recomputed_steps {}{}{}", steps,
      rejected, nfe, nvjp, stored_floats, recomputed_steps,
      reconstruction_error > 0 ? fmt::format(", reconstruction_error {:.2e}", reconstruction_error)
                               : std::string(),
      guard_part);
}

}  // namespace revode
