/// The ANODE schedule (Gholami, Keutzer & Biros 2019, "ANODE: unconditionally accurate
/// memory-efficient gradients for neural ODEs", IJCAI): store the state at the start of every
/// step, and during the reversal re-run each step once from its stored start to regenerate
/// its tape. N − 1 re-runs (the last step's tape survives the forward solve), N stored states.
#pragma once

#include "revode/gradients/schedules/schedule.hpp"

namespace revode {

class EveryStep final : public CheckpointSchedule {
 public:
  std::string name() const override { return "every-step"; }
  /// Unbounded: one slot per step (slot n holds x_n).
  Index max_slots() const override { return -1; }
  int on_forward(Index n) override { return int(n); }
  void end_forward(Index steps) override {
    steps_ = steps;
    next_ = steps - 1;
  }
  ScheduleAction next() override {
    using Kind = ScheduleAction::Kind;
    if (next_ < 0) return {Kind::done};
    // reverse(N−1) runs on the forward solve's own last step; every other one after a restore.
    if (next_ < steps_ - 1 && !restored_) {
      restored_ = true;
      return {Kind::restore, next_, int(next_)};
    }
    restored_ = false;
    return {Kind::reverse, next_--};
  }

 private:
  Index steps_ = 0, next_ = -1;
  bool restored_ = false;
};

}  // namespace revode
