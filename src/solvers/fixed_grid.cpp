#include "revode/solvers/fixed_grid.hpp"

#include <algorithm>
#include <cmath>

#include "revode/core/error.hpp"

namespace revode {

TimeAxis::TimeAxis(double t0, double t1)
    : direction(t1 > t0 ? 1.0 : -1.0), snap(1e-9 * std::abs(t1 - t0)) {}

FixedGrid::FixedGrid(const FixedSteps& fixed, const SaveAt& save_at, double t0, double t1)
    : axis_(t0, t1), ts_(save_at.ts), split_(!save_at.dense && !save_at.steps), t0_(t0), t1_(t1) {
  const double span = t1 - t0;
  require(fixed.steps > 0 || std::abs(span) / fixed.dt < 1e15,
          "fixed steps: dt = {} would take more than 1e15 steps over [{}, {}]", fixed.dt, t0, t1);
  // The 1e-9 keeps a span that is a whole multiple of dt (up to rounding) from gaining a
  // sliver of a last step.
  intervals_ = fixed.steps > 0
                   ? fixed.steps
                   : std::max<Index>(1, Index(std::ceil(std::abs(span) / fixed.dt - 1e-9)));
  h_ = fixed.steps > 0 ? span / double(intervals_) : axis_.direction * fixed.dt;
}

double FixedGrid::node(Index n) const {
  if (n == 0) return t0_;
  return n == intervals_ ? t1_ : t0_ + double(n) * h_;
}

std::size_t FixedGrid::first_save_beyond(double t) const {
  // Save times are strictly monotone in the direction of integration, so "beyond t" is a
  // partition of them.
  return std::size_t(std::partition_point(ts_.begin(), ts_.end(),
                                          [&](double ts) { return !axis_.beyond(ts, t); }) -
                     ts_.begin());
}

void FixedGrid::steps_in(Index n, std::vector<std::pair<double, double>>& out) const {
  out.clear();
  double t = node(n);
  const double target = node(n + 1);
  if (split_) {
    // A solve that reached t has emitted every save up to t (within the tolerance); the
    // next one splits this interval when it lies strictly inside what remains of it.
    for (std::size_t p = first_save_beyond(t);
         p < ts_.size() && axis_.strictly_inside(ts_[p], t, target); p = first_save_beyond(t)) {
      out.emplace_back(t, ts_[p]);
      t = ts_[p];
    }
  }
  out.emplace_back(t, target);
}

}  // namespace revode
