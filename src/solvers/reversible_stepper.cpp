/// Default fused backward hook: invert, then recompute the tape by stepping forward again.
#include "revode/solvers/reversible_stepper.hpp"

namespace revode {

template <class T>
void ReversibleStepper<T>::reverse_step_with_tape(const VectorField<T>& f, T t0, T t1,
                                                  const ConstBatchRef<T>& x1,
                                                  const ConstVectorRef<T>& theta, BatchRef<T> x0,
                                                  BatchRef<T> tape) const {
  reverse_step(f, t0, t1, x1, theta, x0);
  if (tape.cols() == 0) return;  // nothing the VJP needs beyond x0
  Batch<T> again(x1.rows(), x1.cols());
  this->step(f, t0, t1, x0, theta, again, tape, nullptr, false);
}

template class ReversibleStepper<float>;
template class ReversibleStepper<double>;

}  // namespace revode
