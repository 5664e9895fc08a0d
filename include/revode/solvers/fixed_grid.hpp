/// The step times of a fixed-step solve, generated on demand rather than stored, and the time
/// axis rules (direction, snapping tolerance) by which save times count as reached. `integrate`
/// takes its fixed steps from here, so a gradient method that walks the steps backwards
/// (reversible backprop) replays the very same floats in O(1) memory.
#pragma once

#include <utility>
#include <vector>

#include "revode/core/types.hpp"
#include "revode/solvers/save_at.hpp"
#include "revode/solvers/step_control.hpp"

namespace revode {

/// The direction of integration and the tolerance within which a save time counts as reached
/// by a step end (1e-9 |t1 − t0|), so that save times one rounding away from a grid node do
/// not produce slivers of steps.
struct TimeAxis {
  TimeAxis(double t0, double t1);

  double direction;  ///< +1 forwards in time, −1 backwards
  double snap;       ///< the snapping tolerance

  /// ts lies beyond t by more than the tolerance, in the direction of integration.
  bool beyond(double ts, double t) const { return direction * (ts - t) > snap; }
  /// ts lies strictly inside (a, b), beyond the tolerance at both ends.
  bool strictly_inside(double ts, double a, double b) const {
    return beyond(ts, a) && beyond(b, ts);
  }
};

/// A uniform grid of `intervals()` intervals from t0 to t1 (FixedSteps: `steps` equal steps,
/// or steps of `dt` with the last one shortened). A save time strictly inside an interval
/// splits it, so the solve lands on it, unless saves are reached by dense output.
class FixedGrid {
 public:
  /// Expects validated inputs (see `integrate`). Keeps a reference to save_at.ts.
  FixedGrid(const FixedSteps& fixed, const SaveAt& save_at, double t0, double t1);

  Index intervals() const { return intervals_; }
  /// Node n = 0 … intervals(): t0 + n·h, with node 0 exactly t0 and the last exactly t1.
  double node(Index n) const;
  /// The steps (ta, tb) taken across interval n, in time order: (node(n), node(n+1)) split at
  /// the save times strictly inside it. Clears `out` first; reuse it to avoid allocations.
  void steps_in(Index n, std::vector<std::pair<double, double>>& out) const;

 private:
  /// Index of the first save time beyond t: every earlier one was reached at or before t.
  std::size_t first_save_beyond(double t) const;

  TimeAxis axis_;
  const std::vector<double>& ts_;
  bool split_;
  double t0_, t1_, h_;
  Index intervals_;
};

}  // namespace revode
