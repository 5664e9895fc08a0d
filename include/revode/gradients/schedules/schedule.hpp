/// A checkpoint schedule as a stream of actions (advance / store / restore / reverse), after
/// the action vocabulary of revolve (Griewank & Walther 2000, ACM TOMS 26(1), Algorithm 799)
/// and SUNDIALS' SUNAdjointCheckpointScheme. Schedules are pure bookkeeping on step indices,
/// unit-testable without any numerics; `Checkpointed` executes them on states (STYLE.md E6).
#pragma once

#include <cstdint>
#include <string>

#include "revode/core/types.hpp"

namespace revode {

/// One action. "Current" is the one working state the executor advances; slots hold copies.
struct ScheduleAction {
  enum class Kind : std::uint8_t {
    advance,  ///< re-run steps current … step−1 without keeping tapes: current becomes x_step
    store,    ///< copy the current state (x_step) into `slot`
    restore,  ///< current := the state in `slot` (x_step)
    reverse,  ///< current is x_step: re-run step `step` keeping its tape, then apply its VJP;
              ///< the current state is undefined afterwards (a restore must follow)
    done,     ///< every step has been reversed
  };
  Kind kind;
  Index step = 0;
  int slot = -1;
};

/// How a schedule meets the executor.
///
/// Forward phase: the forward solve reports each state x_n (the start of step n, n = 0, 1, …)
/// through `on_forward`, which says into which slot, if any, to copy it; this is the
/// schedule's first forward sweep, done by the solve itself. Then `end_forward(N)`; then
/// `next()` streams the reversal, whose first action is always reverse(N−1): the forward
/// solve's last step, whose tape the executor kept, so it is not re-run.
class CheckpointSchedule {
 public:
  virtual ~CheckpointSchedule() = default;
  /// e.g. "revolve(c = 4, N = 100)".
  virtual std::string name() const = 0;
  /// Slots the schedule may use at once (the executor's memory bound, in states).
  virtual Index max_slots() const = 0;
  /// The number of steps when the schedule needs it in advance (offline), −1 when not.
  virtual Index planned_steps() const { return -1; }
  /// The slot to copy x_n into (overwriting whatever it held), or −1.
  virtual int on_forward(Index n) = 0;
  /// The forward solve took `steps` steps (≥ 1).
  virtual void end_forward(Index steps) = 0;
  virtual ScheduleAction next() = 0;
};

}  // namespace revode
