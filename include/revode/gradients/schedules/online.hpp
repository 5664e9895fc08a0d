/// Online checkpointing for an unknown number of steps (adaptive step sizes), in two phases.
///
/// Forward: the level-based placement of Wang, Moin & Iaccarino (2009), "Minimal repetition
/// dynamic checkpointing algorithm for unsteady adjoint calculation", SIAM J. Sci. Comput.
/// 31(4):2549–2567. x_0 is kept for good; each new state is stored, at level 0, in a free slot
/// while there is one; otherwise a *dispensable* checkpoint (one whose level is below that of
/// a later checkpoint) gives up its slot to it, at level 0; if none is dispensable, the latest
/// checkpoint (level ℓ) is replaced by the new state at level ℓ + 1. The checkpoints then
/// thin out roughly like the binomial distribution for the steps seen so far.
/// Reversal: once the solve has ended, every interval between consecutive checkpoints has a
/// known length, so each is reversed optimally by the binomial schedule (revolve.hpp) with the
/// slots not holding earlier checkpoints, latest interval first. Against the offline optimum
/// t(N, c): at most 1.37× for c ≤ 10, N ≤ 300 (tests/gradients/schedules_test.cpp), 1.02–1.10×
/// at N = 1000 for c = 2 … 8.
#pragma once

#include <vector>

#include "revode/gradients/schedules/revolve.hpp"

namespace revode {

class OnlineCheckpoints final : public CheckpointSchedule {
 public:
  /// slots ≥ 1 (slot 0 holds x_0).
  explicit OnlineCheckpoints(Index slots);

  std::string name() const override;
  Index max_slots() const override { return slots_; }
  int on_forward(Index n) override;
  void end_forward(Index steps) override;
  ScheduleAction next() override;

 private:
  struct Checkpoint {
    Index step;
    int slot;
    Index level;
  };
  Index slots_;
  Index steps_ = -1;
  std::vector<Checkpoint> checkpoints_;  ///< in step order; checkpoints_[0] is x_0
  Index end_of_interval_ = 0;  ///< the reversal has covered every step from here on
  std::vector<int> free_;                ///< slots holding nothing the reversal still needs
  BinomialReversal reversal_;
  bool first_taken_ = false;
};

}  // namespace revode
