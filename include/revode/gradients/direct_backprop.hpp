/// Direct backprop (discretise-then-optimise, store everything): the forward solve keeps the
/// state at every step start and every stage; the backward pass applies each step's VJP in
/// reverse. The reference every other gradient method is tested against (ALGORITHMS.md §1).
/// Step sizes chosen by an adaptive controller are constants of the computation (not
/// differentiated), as in diffrax and torchdiffeq.
#pragma once

#include "revode/gradients/gradient_method.hpp"

namespace revode {

template <class T>
class DirectBackprop final : public GradientMethod<T> {
 public:
  std::string name() const override { return "backprop"; }
  std::unique_ptr<ForwardRecord<T>> forward(const GradientProblem<T>& problem,
                                            SolveObserver<T>* saves = nullptr) const override;
  GradientResult<T> backward(const GradientProblem<T>& problem, ForwardRecord<T>& record,
                             const Loss<T>& loss) const override;
};

}  // namespace revode
