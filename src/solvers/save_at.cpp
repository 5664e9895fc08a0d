#include "revode/solvers/save_at.hpp"

#include <cmath>

#include "revode/core/allocation_limit.hpp"
#include "revode/core/error.hpp"

namespace revode {

SaveAt SaveAt::linspace(double t0, double t1, Index count) {
  require(count >= 1, "number of save times = {}; required: >= 1", count);
  if (count == 1) return final_time(t1);
  require_memory("number of save times", count, {count, Index(sizeof(double))});
  SaveAt s;
  s.ts.resize(count);
  for (Index k = 0; k < count; ++k)
    s.ts[k] = k + 1 == count ? t1 : t0 + (t1 - t0) * (double(k) / double(count - 1));
  return s;
}

void validate(const SaveAt& save_at, double t0, double t1) {
  if (save_at.steps) {
    require(save_at.ts.empty(), "SaveAt: give either save times or steps = true, not both");
    return;
  }
  require(!save_at.ts.empty(), "SaveAt: no save times given (use SaveAt::final_time(t1))");
  const double direction = t1 > t0 ? 1.0 : -1.0;
  const double slack = 1e-12 * std::abs(t1 - t0);
  for (std::size_t k = 0; k < save_at.ts.size(); ++k) {
    const double t = save_at.ts[k];
    require(std::isfinite(t), "save time #{} is {}; required: finite", k, t);
    require(direction * (t - t0) >= -slack && direction * (t1 - t) >= -slack,
            "save time #{} = {} lies outside [t0, t1] = [{}, {}]", k, t, t0, t1);
    if (k > 0)
      require(direction * (t - save_at.ts[k - 1]) > 0,
              "save times must be strictly {} (from t0 = {} to t1 = {}), but #{} = {} follows "
              "#{} = {}",
              direction > 0 ? "increasing" : "decreasing", t0, t1, k, t, k - 1,
              save_at.ts[k - 1]);
  }
}

}  // namespace revode
