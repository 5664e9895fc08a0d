/// Checkpointed gradients: exact (discretise-then-optimise) gradients that store some forward
/// states and recompute the rest, executing a checkpoint schedule (schedules/*.hpp) on the
/// solver's states (STYLE.md E6: ANODE = Checkpointed with every step stored; Griewank's
/// revolve = Checkpointed with binomial slots; online checkpointing for adaptive steps).
///
/// The forward solve is the one `integrate` loop; it is also the schedule's first forward
/// sweep (the observer copies the states the schedule asks for). The reversal re-runs steps
/// through `replay_steps` with the forward solve's own step times (fixed grid: regenerated on
/// demand; adaptive: recorded, N + 1 scalars), so each re-run reproduces its forward step, and
/// applies each step's VJP through the shared StepAdjoint walk. The gradient agrees with
/// DirectBackprop up to round-off (ALGORITHMS.md §2).
#pragma once

#include "revode/gradients/gradient_method.hpp"

namespace revode {

template <class T>
class Checkpointed final : public GradientMethod<T> {
 public:
  /// ANODE (Gholami, Keutzer & Biros 2019): the state at the start of every step is stored,
  /// every step is re-run once during the reversal. Memory O(N) states, N − 1 re-runs.
  static Checkpointed anode() { return Checkpointed(0); }
  /// At most `slots` ≥ 1 stored states (x_0 included): the optimal binomial schedule (revolve)
  /// when the number of steps is known (fixed steps), online checkpointing otherwise.
  /// @throws revode::Error when slots < 1.
  static Checkpointed with_slots(Index slots);

  /// "anode" or "checkpoint:C".
  std::string name() const override;
  /// stats.recomputed_steps counts every forward step re-run during the reversal (advances and
  /// tape regenerations): t(N, C) of revolve.hpp for fixed steps.
  std::unique_ptr<ForwardRecord<T>> forward(const GradientProblem<T>& problem,
                                            SolveObserver<T>* saves = nullptr) const override;
  GradientResult<T> backward(const GradientProblem<T>& problem, ForwardRecord<T>& record,
                             const Loss<T>& loss) const override;

 private:
  explicit Checkpointed(Index slots) : slots_(slots) {}
  Index slots_;  ///< 0: every step (ANODE)
};

extern template class Checkpointed<float>;
extern template class Checkpointed<double>;

}  // namespace revode
