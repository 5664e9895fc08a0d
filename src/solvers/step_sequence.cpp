/// Step sequences (fixed grids with their save-time splits, or recorded adaptive steps) and
/// the replay of a run of steps (see step_sequence.hpp).
#include "revode/solvers/step_sequence.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "revode/core/allocation_limit.hpp"
#include "revode/core/error.hpp"

namespace revode {

StepSequence StepSequence::fixed(const FixedSteps& fixed, const SaveAt& save_at, double t0,
                                 double t1) {
  StepSequence s;
  s.grid_.emplace(fixed, save_at, t0, t1);
  // One pass over the grid finds the save times that split an interval; every other boundary
  // is a grid node, recomputed on demand. O(N) time once, O(number of splits) memory.
  std::vector<std::pair<double, double>> steps;
  Index n = 0;
  for (Index i = 0; i < s.grid_->intervals(); ++i) {
    s.grid_->steps_in(i, steps);
    for (std::size_t j = 0; j + 1 < steps.size(); ++j) {
      s.split_at_.push_back(n + Index(j) + 1);
      s.times_.push_back(steps[j].second);
    }
    n += Index(steps.size());
  }
  s.steps_ = n;
  return s;
}

StepSequence StepSequence::recorded(double t0) {
  StepSequence s;
  s.recorded_ = true;
  s.times_.push_back(t0);
  return s;
}

void StepSequence::record(double t1) {
  require(recorded_, "StepSequence::record on a fixed grid (its steps are known in advance)");
  record_step_time(times_, t1);
  ++steps_;
}

void record_step_time(std::vector<double>& times, double t) {
  if (times.size() == times.capacity()) {
    const std::size_t grown = std::max<std::size_t>(64, 2 * times.capacity());
    const Index steps = times.empty() ? 0 : Index(times.size()) - 1;  // times holds t_0 too
    require_memory("recording the step times of an adaptive solve",
                   fmt::format("({} steps so far)", steps), {Index(grown), Index(sizeof(double))},
                   "; or loosen rtol/atol for fewer steps, or use fixed steps, whose times are "
                   "not stored");
    times.reserve(grown);
  }
  times.push_back(t);
}

double StepSequence::operator[](Index n) const {
  if (recorded_) return times_[std::size_t(n)];
  const auto it = std::lower_bound(split_at_.begin(), split_at_.end(), n);
  const auto before = Index(it - split_at_.begin());
  if (it != split_at_.end() && *it == n) return times_[std::size_t(before)];
  return grid_->node(n - before);
}

template <class T>
Index replay_steps(const VectorField<T>& f, const Stepper<T>& stepper, const StepSequence& times,
                   Index from, Index to, const ConstVectorRef<T>& theta, Batch<T>& x,
                   Batch<T>& scratch, Batch<T>& tape) {
  // Not an integration loop: no step control and no saves, just the forward solve's own
  // steps, in its own floats, one after another.
  for (Index n = from; n < to; ++n) {
    stepper.step(f, T(times[n]), T(times[n + 1]), x, theta, scratch, tape, nullptr, false);
    x.swap(scratch);
  }
  return to - from;
}

template Index replay_steps<float>(const VectorField<float>&, const Stepper<float>&,
                                   const StepSequence&, Index, Index, const ConstVectorRef<float>&,
                                   Batch<float>&, Batch<float>&, Batch<float>&);
template Index replay_steps<double>(const VectorField<double>&, const Stepper<double>&,
                                    const StepSequence&, Index, Index,
                                    const ConstVectorRef<double>&, Batch<double>&, Batch<double>&,
                                    Batch<double>&);

}  // namespace revode
