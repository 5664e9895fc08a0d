/// McCallum–Foster step, its exact inverse and its VJP (see mccallum_foster.hpp).
#include "revode/solvers/reversible/mccallum_foster.hpp"

#include "revode/core/bits_equal.hpp"
#include "revode/core/error.hpp"

namespace revode {

template <class T>
McCallumFoster<T>::McCallumFoster(const ButcherTableau& base, double coupling)
    : base_(base), coupling_(coupling) {
  require(coupling > 0.0 && coupling <= 1.0,
          "McCallum–Foster coupling λ = {}; required: 0 < λ ≤ 1 (smaller λ is more stable "
          "forwards but amplifies round-off by about 1/λ per reverse step; 0.999 is usual)",
          coupling);
}

template <class T>
std::string McCallumFoster<T>::name() const {
  return "reversible:" + base_.name();
}

template <class T>
void McCallumFoster<T>::initialize(const VectorField<T>&, T, ConstBatchRef<T> y0, ConstVectorRef<T>,
                                   BatchRef<T> x0) const {
  const Index dim = y0.rows();
  x0.topRows(dim) = y0;
  x0.bottomRows(dim) = y0;
}

template <class T>
void McCallumFoster<T>::initialize_vjp(const VectorField<T>&, T, ConstBatchRef<T> y0,
                                       ConstVectorRef<T>, ConstBatchRef<T> x0_bar,
                                       BatchRef<T> y0_bar, VectorRef<T>) const {
  const Index dim = y0.rows();
  y0_bar = x0_bar.topRows(dim) + x0_bar.bottomRows(dim);  // Y0 = Z0 = y0
}

template <class T>
void McCallumFoster<T>::step(const VectorField<T>& f, T t0, T t1, ConstBatchRef<T> x0,
                             ConstVectorRef<T> theta, BatchRef<T> x1, BatchRef<T> tape,
                             Batch<T>* error, bool) const {
  const Index dim = f.state_dim(), batch = x0.cols(), cols = base_.tape_cols(batch);
  auto y1 = x1.topRows(dim);
  phi_.resize(dim, batch);
  base_.step_unchained(f, t0, t1, x0.bottomRows(dim), theta, phi_, tape.middleCols(batch, cols),
                       nullptr);
  y1 = T(coupling_) * (x0.topRows(dim) - x0.bottomRows(dim)) + phi_;
  tape.leftCols(batch) = y1;
  // The base step runs from t1 back to t0, i.e. with step −h.
  base_.step_unchained(f, t1, t0, y1, theta, phi_, tape.middleCols(batch + cols, cols), error);
  x1.bottomRows(dim) = x0.bottomRows(dim) + (y1 - phi_);
}

template <class T>
void McCallumFoster<T>::reverse_step_with_tape(const VectorField<T>& f, T t0, T t1,
                                               ConstBatchRef<T> x1, ConstVectorRef<T> theta,
                                               BatchRef<T> x0, BatchRef<T> tape) const {
  const Index dim = f.state_dim(), batch = x1.cols(), cols = base_.tape_cols(batch);
  const auto y1 = x1.topRows(dim);
  auto z0 = x0.bottomRows(dim);
  phi_.resize(dim, batch);
  tape.leftCols(batch) = y1;
  base_.step_unchained(f, t1, t0, y1, theta, phi_, tape.middleCols(batch + cols, cols), nullptr);
  z0 = x1.bottomRows(dim) - (y1 - phi_);
  base_.step_unchained(f, t0, t1, z0, theta, phi_, tape.middleCols(batch, cols), nullptr);
  x0.topRows(dim) = (y1 - phi_) / T(coupling_) + z0;
}

template <class T>
bool McCallumFoster<T>::end_derivative(ConstBatchRef<T> tape, ConstBatchRef<T> y1,
                                       BatchRef<T> out) const {
  const Index batch = y1.cols(), cols = base_.tape_cols(batch);
  if (tape.rows() != y1.rows() || tape.cols() != tape_cols(batch)) return false;
  // Only the tape of a step that ended at exactly y1 holds f(t1, y1).
  if (!bits_equal<T>(tape.leftCols(batch), y1)) return false;
  return base_.start_derivative(tape.middleCols(batch + cols, cols), batch, out);
}

template <class T>
void McCallumFoster<T>::reverse_step(const VectorField<T>& f, T t0, T t1, ConstBatchRef<T> x1,
                                     ConstVectorRef<T> theta, BatchRef<T> x0) const {
  tape_.resize(f.state_dim(), tape_cols(x1.cols()));
  reverse_step_with_tape(f, t0, t1, x1, theta, x0, tape_);
}

template <class T>
void McCallumFoster<T>::step_vjp(const VectorField<T>& f, T t0, T t1, ConstBatchRef<T> x0,
                                 ConstVectorRef<T> theta, ConstBatchRef<T> tape,
                                 ConstBatchRef<T> x1_bar, BatchRef<T> x0_bar,
                                 VectorRef<T> theta_bar) const {
  const Index dim = f.state_dim(), batch = x0.cols(), cols = base_.tape_cols(batch);
  const T lambda = T(coupling_);
  const auto y1_bar = x1_bar.topRows(dim), z1_bar = x1_bar.bottomRows(dim);
  // Z1 = Z0 + Y1 − Φ_{−h}(Y1): the transpose of −Φ_{−h} is applied to −Z̄1, so θ̄ receives
  // the minus sign through the cotangent.
  cotangent_ = -z1_bar;
  y1_bar_.resize(dim, batch);
  base_.step_vjp(f, t1, t0, tape.leftCols(batch), theta, tape.middleCols(batch + cols, cols),
                 cotangent_, y1_bar_, theta_bar);
  y1_bar_ += y1_bar + z1_bar;  // Ȳ1 updated before it feeds anything else (ALGORITHMS.md §4)
  // Y1 = λ Y0 − λ Z0 + Φ_h(Z0).
  z0_bar_.resize(dim, batch);
  base_.step_vjp(f, t0, t1, x0.bottomRows(dim), theta, tape.middleCols(batch, cols), y1_bar_,
                 z0_bar_, theta_bar);
  x0_bar.topRows(dim) = lambda * y1_bar_;
  x0_bar.bottomRows(dim) = z1_bar - lambda * y1_bar_ + z0_bar_;
}

template class McCallumFoster<float>;
template class McCallumFoster<double>;

}  // namespace revode
