/// Default solver-state initialisation: the state is y itself.
#include "revode/solvers/stepper.hpp"

namespace revode {

template <class T>
void Stepper<T>::initialize(const VectorField<T>&, T, const ConstBatchRef<T>& y0,
                            const ConstVectorRef<T>&, BatchRef<T> x0) const {
  x0 = y0;
}

template <class T>
void Stepper<T>::initialize_vjp(const VectorField<T>&, T, const ConstBatchRef<T>&,
                                const ConstVectorRef<T>&, const ConstBatchRef<T>& x0_bar,
                                BatchRef<T> y0_bar, VectorRef<T>) const {
  y0_bar = x0_bar.topRows(y0_bar.rows());
}

template class Stepper<float>;
template class Stepper<double>;

}  // namespace revode
