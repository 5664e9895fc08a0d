#include "revode/solvers/step_control.hpp"

#include <cmath>

#include "revode/core/error.hpp"

namespace revode {

void validate(const StepControl& control) {
  if (const auto* fixed = std::get_if<FixedSteps>(&control)) {
    require((fixed->steps > 0) != (fixed->dt > 0),
            "fixed steps: give exactly one of steps (= {}) or dt (= {}), and it must be > 0",
            fixed->steps, fixed->dt);
    require(std::isfinite(fixed->dt), "fixed steps: dt = {}; required: finite", fixed->dt);
    // The same bound as for dt (fixed_grid.cpp): more steps would run for years, and step
    // counts near 2^63 would overflow the N + 1 states and times that callers count.
    require(fixed->steps <= 1'000'000'000'000'000,
            "fixed steps: {} steps; required: at most 1e15", fixed->steps);
    return;
  }
  const auto& a = std::get<AdaptiveSteps>(control);
  require(std::isfinite(a.rtol) && a.rtol > 0, "rtol = {}; required: rtol > 0", a.rtol);
  require(std::isfinite(a.atol) && a.atol > 0, "atol = {}; required: atol > 0", a.atol);
  require(std::isfinite(a.dt0) && a.dt0 >= 0, "dt0 = {}; required: dt0 >= 0 (0 = automatic)",
          a.dt0);
  require(std::isfinite(a.dtmin) && a.dtmin >= 0, "dtmin = {}; required: dtmin >= 0", a.dtmin);
  require(a.max_steps > 0, "max_steps = {}; required: max_steps > 0", a.max_steps);
  require(a.norm_rows >= 0, "norm_rows = {}; required: norm_rows >= 0 (0 = every row)",
          a.norm_rows);
  a.pid.validate();
}

}  // namespace revode
