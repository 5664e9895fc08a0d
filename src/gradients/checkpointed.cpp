/// Checkpointed gradients: the forward solve stores what the schedule asks for, the reversal
/// executes the schedule's actions on solver states (see checkpointed.hpp).
#include "revode/gradients/checkpointed.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "revode/core/allocation_limit.hpp"
#include "revode/core/counting_field.hpp"
#include "revode/gradients/schedules/every_step.hpp"
#include "revode/gradients/schedules/online.hpp"
#include "revode/gradients/schedules/revolve.hpp"
#include "revode/gradients/step_adjoint.hpp"
#include "revode/solvers/step_sequence.hpp"

namespace revode {
namespace {

/// The solver states a reversal works on: the current state, the state after it, one tape,
/// and the checkpoint slots.
template <class T>
struct Workspace {
  Batch<T> current, next, tape;
  Index current_step = -1;
  std::vector<Batch<T>> slots;
  std::vector<Index> slot_step;

  void store(int slot, Index step, const ConstBatchRef<T>& x) {
    if (std::size_t(slot) >= slots.size()) {
      slots.resize(std::size_t(slot) + 1);
      slot_step.resize(std::size_t(slot) + 1, -1);
    }
    slots[std::size_t(slot)] = x;
    slot_step[std::size_t(slot)] = step;
  }
  Index floats() const {
    Index n = current.size() + next.size() + tape.size();
    for (const auto& s : slots) n += s.size();
    return n;
  }
};

/// Forward observer: the schedule's first sweep (stores), the step times when they are not
/// known in advance, the loss value, and the last step's states and tape.
template <class T>
class ForwardSweep final : public SolveObserver<T> {
 public:
  ForwardSweep(CheckpointSchedule& schedule, StepSequence& times, Workspace<T>& work,
               const Loss<T>& loss, const SaveAt& save_at)
      : loss_value(loss, save_at), schedule_(schedule), times_(times), work_(work) {}

  void on_step(const StepRecord<T>& step) override {
    if (!times_.known_in_advance()) times_.record(step.t1);
    const int slot = schedule_.on_forward(step.n);
    if (slot >= 0) work_.store(slot, step.n, step.x0);
    // Keep the last step's states and tape: its reversal needs no re-run. With the number of
    // steps unknown, every step might be the last.
    if (!times_.known_in_advance() || step.n + 1 == times_.steps()) {
      work_.current = step.x0;
      work_.next = step.x1;
      work_.tape = step.tape;
      work_.current_step = step.n;
    }
  }
  void on_save(const SaveRecord<T>& save) override { loss_value.record(save); }

  LossValue<T> loss_value;

 private:
  CheckpointSchedule& schedule_;
  StepSequence& times_;
  Workspace<T>& work_;
};

/// What the forward half leaves for the reversal: the schedule after its first sweep, the step
/// times, the stored states (and the last step's states and tape), and the number of saves.
template <class T>
struct CheckpointRecord final : ForwardRecord<T> {
  explicit CheckpointRecord(StepSequence step_times) : times(std::move(step_times)) {}
  std::unique_ptr<CheckpointSchedule> schedule;
  StepSequence times;
  Workspace<T> work;
  Index saves = 0;
};

}  // namespace

template <class T>
Checkpointed<T> Checkpointed<T>::with_slots(Index slots) {
  require(slots >= 1, "checkpoint:{}: the number of checkpoint slots must be >= 1", slots);
  return Checkpointed(slots);
}

template <class T>
std::string Checkpointed<T>::name() const {
  return slots_ == 0 ? "anode" : fmt::format("checkpoint:{}", slots_);
}

template <class T>
std::unique_ptr<ForwardRecord<T>> Checkpointed<T>::forward(const GradientProblem<T>& p,
                                                         SolveObserver<T>* saves) const {
  const Index dim = p.field.state_dim(), batch = p.y0.cols();
  const auto* fixed = std::get_if<FixedSteps>(&p.control);
  // The step sequence is built before `integrate` validates anything, so check what it uses.
  require(std::isfinite(p.t0) && std::isfinite(p.t1) && p.t0 != p.t1,
          "time interval [t0, t1] = [{}, {}]; required: finite and t0 != t1", p.t0, p.t1);
  validate(p.control);
  validate(p.save_at, p.t0, p.t1);
  auto record = std::make_unique<CheckpointRecord<T>>(
      fixed ? StepSequence::fixed(*fixed, p.save_at, p.t0, p.t1) : StepSequence::recorded(p.t0));
  StepSequence& times = record->times;
  if (fixed != nullptr) {  // at most one solver state per slot, and no more than N + 1 slots
    const Index stored = slots_ == 0 ? times.steps() : std::min(slots_, times.steps() + 1);
    require_memory(fmt::format("{}: checkpoints stored", name()), stored,
                   {stored, p.stepper.state_copies() * dim, batch, Index(sizeof(T))});
  }
  if (slots_ == 0) record->schedule = std::make_unique<EveryStep>();
  // More slots than states to store (N + 1) buy nothing: capping them keeps checkpoint:C
  // with a huge C from costing set-up time and memory proportional to C.
  else if (fixed)
    record->schedule = std::make_unique<Revolve>(std::min(slots_, times.steps() + 1), times.steps());
  else record->schedule = std::make_unique<OnlineCheckpoints>(slots_);

  ForwardSweep<T> sweep(*record->schedule, times, record->work, p.loss, p.save_at);
  TeeObserver<T> observer(sweep, saves);
  record->stats =
      integrate(p.field, p.stepper, p.control, p.save_at, p.t0, p.t1, p.y0, p.theta, observer);
  record->loss = sweep.loss_value.finish(dim, batch);
  record->saves = sweep.loss_value.saves();
  record->ts = sweep.loss_value.take_times();
  record->schedule->end_forward(times.steps());
  return record;
}

template <class T>
GradientResult<T> Checkpointed<T>::backward(const GradientProblem<T>& p, ForwardRecord<T>& base,
                                            const Loss<T>& loss) const {
  auto& record = this->template take_record<CheckpointRecord<T>>(base);
  const Index batch = p.y0.cols();
  GradientResult<T> result = this->result_from(record);
  CheckpointSchedule* schedule = record.schedule.get();
  StepSequence& times = record.times;
  Workspace<T>& work = record.work;

  CountingField<T> f(p.field);
  SaveWalk<T> saves(p, f, loss, record.saves);
  StepAdjoint<T> walk(p, f, saves);
  using Kind = ScheduleAction::Kind;
  bool first = true;
  Index recomputed = 0;
  for (ScheduleAction a = schedule->next(); a.kind != Kind::done; a = schedule->next()) {
    switch (a.kind) {
      case Kind::advance:
        recomputed += replay_steps<T>(f, p.stepper, times, work.current_step, a.step, p.theta,
                                      work.current, work.next, work.tape);
        work.current_step = a.step;
        break;
      case Kind::store:
        work.store(a.slot, work.current_step, work.current);
        break;
      case Kind::restore:
        work.current = work.slots[std::size_t(a.slot)];
        work.current_step = work.slot_step[std::size_t(a.slot)];
        break;
      case Kind::reverse: {
        const Index n = a.step;
        require(work.current_step == n, "{}: schedule '{}' reverses step {} from state {}",
                name(), schedule->name(), n, work.current_step);
        // The forward solve's last step still has its states and tape; every other step is
        // re-run from its start to regenerate them.
        if (!first) {
          p.stepper.step(f, T(times[n]), T(times[n + 1]), work.current, p.theta, work.next,
                         work.tape, nullptr, false);
          ++recomputed;
        }
        first = false;
        walk.step_vjp(times[n], times[n + 1], work.current, work.next, work.tape);
        work.current_step = -1;
        break;
      }
      case Kind::done:
        break;
    }
  }
  result.grad_y0 = walk.grad_y0();
  result.grad_params = std::move(walk.theta_bar());

  result.stats.nfe += f.nfe();
  result.stats.nvjp += f.nvjp();
  result.stats.recomputed_steps = recomputed;
  result.stats.stored_floats = work.floats() + times.stored_floats() + saves.stored_floats() +
                               p.field.intermediate_floats(batch);
  return result;
}

template class Checkpointed<float>;
template class Checkpointed<double>;

}  // namespace revode
