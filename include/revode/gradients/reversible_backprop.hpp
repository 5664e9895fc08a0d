/// Reversible backprop: exact gradients of the discrete solve with no stored states, for the
/// algebraically reversible solvers (ALGORITHMS.md §4; Kidger et al. 2021, McCallum & Foster
/// 2024, Zhuang et al. 2021). Like direct backprop, adaptive step sizes are constants of the
/// computation, so both give the same gradient up to the round-off of the reconstruction.
#pragma once

#include "revode/gradients/gradient_method.hpp"
#include "revode/gradients/reversible_guard.hpp"

namespace revode {

/// Forward: one `integrate` whose observer keeps only the final solver state, the loss value
/// and the number of saves K (so the loss scale is known), and with adaptive steps the accepted
/// step times (O(N) scalars, not states). Fixed steps keep nothing per step: the backward walk
/// regenerates the grid through the same FixedGrid that `integrate` stepped along.
///
/// Backward: from the final state, each step in reverse runs the stepper's fused
/// `reverse_step_with_tape` (the start state and the tape), then the saves that step emitted —
/// their loss terms evaluated afresh on the reconstructed states (Loss is separable, so no
/// cotangent is kept from the forward pass), dense saves pulled back through the Hermite
/// interpolant — and then the step's VJP. Finally the saves at t0 and `initialize_vjp`.
///
/// Guard (reversible_guard.hpp): the walk's rebuilt y0 is checked against the true y0; a
/// drift beyond the guard's tolerance is repaired (anchors from a forward replay, drifting
/// segments recomputed), refused (ReconstructionError) or flagged, as the policy says.
/// A walk within tolerance holds nothing more than it did without the guard.
///
/// Statistics: `reconstruction_error` compares the rebuilt y0 with the true one (after a
/// repair: the largest drift of an accepted segment); `guard` reports the check and repair;
/// `recomputed_steps` counts the reverse steps; `stored_floats` is the peak held by the method:
/// two solver states and their two adjoints, one tape, the save cotangent and dense-output
/// buffers, one network evaluation's intermediates, the step times when adaptive, and the
/// splits of one grid interval when fixed (the steppers' own O(one step) scratch aside, as for
/// direct backprop). With fixed steps it does not depend on the number of steps.
///
/// Throws revode::Error when the problem's stepper is not a ReversibleStepper.
template <class T>
class ReversibleBackprop final : public GradientMethod<T> {
 public:
  explicit ReversibleBackprop(ReversibleGuard guard = {}) : guard_(guard) { guard_.validate(); }
  std::string name() const override { return "reversible"; }
  std::unique_ptr<ForwardRecord<T>> forward(const GradientProblem<T>& problem,
                                            SolveObserver<T>* saves = nullptr) const override;
  GradientResult<T> backward(const GradientProblem<T>& problem, ForwardRecord<T>& record,
                             const Loss<T>& loss) const override;
  const ReversibleGuard& guard() const { return guard_; }

 private:
  ReversibleGuard guard_;
};

extern template class ReversibleBackprop<float>;
extern template class ReversibleBackprop<double>;

}  // namespace revode
