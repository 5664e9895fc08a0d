/// Online checkpointing: level-based placement, then binomial reversal of each interval (see
/// online.hpp).
#include "revode/gradients/schedules/online.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "revode/core/error.hpp"

namespace revode {

OnlineCheckpoints::OnlineCheckpoints(Index slots) : slots_(slots) {
  require(slots >= 1, "online checkpointing: {} checkpoint slots; required: >= 1", slots);
}

std::string OnlineCheckpoints::name() const { return fmt::format("online(c = {})", slots_); }

int OnlineCheckpoints::on_forward(Index n) {
  if (n == 0) {
    // x_0 is never given up: a level above every other.
    checkpoints_.assign(1, {0, 0, std::numeric_limits<Index>::max()});
    return 0;
  }
  if (Index(checkpoints_.size()) < slots_) {
    const int slot = int(checkpoints_.size());
    checkpoints_.push_back({n, slot, 0});
    return slot;
  }
  if (slots_ == 1) return -1;  // only x_0: nothing to place
  // The earliest dispensable checkpoint: a lower level than some later one. Scanning from the
  // end keeps the running maximum of the later levels.
  std::size_t dispensable = 0;
  Index later_max = -1;
  for (std::size_t i = checkpoints_.size() - 1; i >= 1; --i) {
    if (checkpoints_[i].level < later_max) dispensable = i;
    later_max = std::max(later_max, checkpoints_[i].level);
  }
  if (dispensable > 0) {
    const int slot = checkpoints_[dispensable].slot;
    checkpoints_.erase(checkpoints_.begin() + std::ptrdiff_t(dispensable));
    checkpoints_.push_back({n, slot, 0});
    return slot;
  }
  Checkpoint& latest = checkpoints_.back();
  latest = {n, latest.slot, latest.level + 1};
  return latest.slot;
}

void OnlineCheckpoints::end_forward(Index steps) {
  require(steps >= 1 && !checkpoints_.empty(), "online checkpointing: no forward steps seen");
  steps_ = steps;
  free_.clear();
  // Slots beyond the N + 1 states there are stay unused: listing them would cost time and
  // memory proportional to a huge slot count for nothing.
  const Index usable = std::min(slots_, steps + 1);
  for (Index s = Index(checkpoints_.size()); s < usable; ++s) free_.push_back(int(s));
}

ScheduleAction OnlineCheckpoints::next() {
  using Kind = ScheduleAction::Kind;
  if (!first_taken_) {
    first_taken_ = true;
    end_of_interval_ = steps_ - 1;
    return {Kind::reverse, steps_ - 1};
  }
  while (reversal_.finished()) {
    if (checkpoints_.empty()) return {Kind::done};
    const Checkpoint cp = checkpoints_.back();
    checkpoints_.pop_back();
    const Index end = end_of_interval_;
    end_of_interval_ = cp.step;
    if (cp.step < end) reversal_.start(cp.step, end, cp.slot, free_, true);
    // Once its interval is reversed, the checkpoint's slot serves the earlier intervals.
    free_.push_back(cp.slot);
  }
  return reversal_.next();
}

}  // namespace revode
