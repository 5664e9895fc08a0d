/// Binomial checkpointing (revolve): the optimal reversal of N steps with c checkpoint slots
/// when N is known in advance. Griewank (1992), "Achieving logarithmic growth of temporal and
/// spatial complexity in reverse automatic differentiation", Optim. Methods Softw. 1(1);
/// Griewank & Walther (2000), ACM TOMS 26(1):19–45, Algorithm 799. With β(c, r) = C(c+r, c)
/// and r the least integer with β(c, r) ≥ N, the least number of forward steps re-run is
///   t(N, c) = r·N − β(c+1, r−1)        (e.g. N = 100: 845 for c = 2, 490 for c = 3, 316 for c = 5)
/// counting every advance, the first forward sweep included. The slot holding x_0 is one of c.
#pragma once

#include <utility>
#include <vector>

#include "revode/gradients/schedules/schedule.hpp"

namespace revode {

/// β(c, r) = C(c + r, c), saturating at 2^62 (enough to compare with any step count).
Index binomial_beta(Index c, Index r);
/// The repetition number: the least r ≥ 0 with β(c, r) ≥ steps (steps ≥ 1, c ≥ 1).
Index repetition_number(Index steps, Index c);
/// t(steps, c): advances of the optimal reversal of `steps` steps with c slots (0 for ≤ 1).
Index revolve_cost(Index steps, Index c);
/// Where the optimal reversal of `steps` ≥ 2 steps with c ≥ 2 slots puts its first checkpoint
/// (an offset in 1 … steps−1): the least m minimising m + t(m, c) + t(steps − m, c − 1).
/// t(·, c) is convex and piecewise linear with slope r on (β(c, r−1), β(c, r)], so the cost is
/// convex in m and its minimiser is where the marginal costs 1 + r(m+1, c) and r(steps−m, c−1)
/// cross; found by bisection, not by scanning.
Index binomial_split(Index steps, Index c);

/// Generates the actions that reverse steps [a, b), recursively: with x_a current and in a
/// slot, advance to the optimal split m, store x_m, reverse [m, b) with one slot fewer, restore
/// x_a, reverse [a, m) (Griewank & Walther 2000, §3); with a single slot, restore x_a and
/// advance for every step. Slots are used as a stack: the frame with c slots stores its
/// split state in free[c − 2].
class BinomialReversal {
 public:
  /// Queues the reversal of [a, b) (a < b) with x_a in slot_a and the c − 1 = free.size()
  /// further slots `free`. `restore_first`: the current state is not x_a yet.
  void start(Index a, Index b, int slot_a, std::vector<int> free, bool restore_first);
  bool finished() const { return frames_.empty() && taken_ == queued_; }
  /// The next action; call only while !finished().
  ScheduleAction next();

 private:
  struct Frame {
    Index a, b;
    Index c;
    int slot_a;
    bool restore;
  };
  void expand(const Frame& frame);
  void emit(ScheduleAction action) { queue_[queued_++] = action; }

  std::vector<Frame> frames_;
  std::vector<int> free_;
  ScheduleAction queue_[3]{};  ///< a frame expands to at most three actions
  int queued_ = 0, taken_ = 0;
};

/// Offline binomial checkpointing for a known number of steps (fixed step grids).
class Revolve final : public CheckpointSchedule {
 public:
  /// slots ≥ 1, steps ≥ 1. Plans the first forward sweep (the stores the solve makes).
  Revolve(Index slots, Index steps);

  std::string name() const override;
  Index max_slots() const override { return slots_; }
  Index planned_steps() const override { return steps_; }
  int on_forward(Index n) override;
  void end_forward(Index steps) override;
  ScheduleAction next() override;

 private:
  Index slots_, steps_;
  BinomialReversal reversal_;
  std::vector<std::pair<Index, int>> forward_stores_;  ///< (n, slot), n increasing
  std::size_t next_store_ = 0;
  ScheduleAction first_reverse_{};
  bool first_taken_ = false;
};

}  // namespace revode
