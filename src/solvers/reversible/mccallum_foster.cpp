/// McCallum–Foster step, its exact inverse and its VJP (see mccallum_foster.hpp).
#include "revode/solvers/reversible/mccallum_foster.hpp"

#include "revode/core/bits_equal.hpp"
#include "revode/core/error.hpp"
#include "../../core/fit.hpp"
#include "../stage_sum.hpp"

namespace revode {
namespace {

// The combinations below are plain loops over the state's columns (why: stage_sum.hpp). Each
// keeps the expression of the Eigen code it replaced, term for term, and a product feeding a
// sum is one stage_sum::mul_add, so every element rounds the same way in every column. The
// inverse's own arithmetic is unchanged in kind: it recomputes Φ_h(Z_n) and Φ_{−h}(Y_{n+1})
// with the same base step, so their bits are the forward's.
using stage_sum::Cols;
using stage_sum::mul_add;

template <class T>
Cols<const T> rows_from(const ConstBatchRef<T>& m, Index first) {
  return {m.data() + first, m.outerStride()};
}
template <class T>
Cols<T> rows_from(BatchRef<T>& m, Index first) {
  return {m.data() + first, m.outerStride()};
}
template <class T>
Cols<T> whole(Batch<T>& m) {
  return {m.data(), m.rows()};
}

/// The base steps run on raw pointers into the tape at batch 1: a tape of other rows or too
/// few columns is a clear error, not an overrun.
void require_tape(Index tape_rows, Index tape_cols, Index dim, Index cols) {
  if (tape_rows != dim || tape_cols < cols) [[unlikely]]
    throw Error(fmt::format("McCallum–Foster step: tape is {}×{}; expected {}×{}", tape_rows,
                            tape_cols, dim, cols));
}

}  // namespace

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
void McCallumFoster<T>::base_step(const VectorField<T>& f, T ta, T tb, const T* x, Index stride,
                                  Index dim, Index batch, const ConstVectorRef<T>& theta, T* tape,
                                  Index tape_stride, Batch<T>* error) const {
  fit(phi_, dim, batch);
  if (batch == 1)
    return base_.step_unchained_column(f, ta, tb, x, dim, theta, phi_.data(), tape, tape_stride,
                                       error);
  using Stride = Eigen::OuterStride<>;
  base_.step_unchained(
      f, ta, tb, Eigen::Map<const Batch<T>, 0, Stride>(x, dim, batch, Stride(stride)), theta, phi_,
      Eigen::Map<Batch<T>, 0, Stride>(tape, dim, base_.tape_cols(batch), Stride(tape_stride)),
      error);
}

template <class T>
void McCallumFoster<T>::base_vjp(const VectorField<T>& f, T ta, T tb, const T* x, Index stride,
                                 Index dim, Index batch, const ConstVectorRef<T>& theta,
                                 const T* tape, Index tape_stride, const Batch<T>& x1_bar,
                                 Batch<T>& x_bar, VectorRef<T> theta_bar) const {
  if (batch == 1)
    return base_.step_vjp_column(f, ta, tb, x, dim, theta, tape, tape_stride, x1_bar.data(),
                                 x_bar.data(), theta_bar);
  using Stride = Eigen::OuterStride<>;
  base_.step_vjp(
      f, ta, tb, Eigen::Map<const Batch<T>, 0, Stride>(x, dim, batch, Stride(stride)), theta,
      Eigen::Map<const Batch<T>, 0, Stride>(tape, dim, base_.tape_cols(batch), Stride(tape_stride)),
      x1_bar, x_bar, theta_bar);
}

template <class T>
void McCallumFoster<T>::initialize(const VectorField<T>&, T, const ConstBatchRef<T>& y0,
                                   const ConstVectorRef<T>&, BatchRef<T> x0) const {
  const Index dim = y0.rows();
  x0.topRows(dim) = y0;
  x0.bottomRows(dim) = y0;
}

template <class T>
void McCallumFoster<T>::initialize_vjp(const VectorField<T>&, T, const ConstBatchRef<T>& y0,
                                       const ConstVectorRef<T>&, const ConstBatchRef<T>& x0_bar,
                                       BatchRef<T> y0_bar, VectorRef<T>) const {
  const Index dim = y0.rows();
  y0_bar = x0_bar.topRows(dim) + x0_bar.bottomRows(dim);  // Y0 = Z0 = y0
}

// The state is [Y; Z], so dim is half its rows (not f.state_dim(): two virtual calls through
// the counting wrapper per step at batch 1).
template <class T>
void McCallumFoster<T>::step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                             const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape,
                             Batch<T>* error, bool) const {
  const Index dim = x0.rows() / 2, batch = x0.cols(), cols = base_.tape_cols(batch);
  require_tape(tape.rows(), tape.cols(), dim, tape_cols(batch));
  const T lambda = T(coupling_);
  const Index ld = tape.outerStride();
  base_step(f, t0, t1, x0.data() + dim, x0.outerStride(), dim, batch, theta,
            tape.data() + batch * ld, ld, nullptr);
  // Y1 = λ (Y0 − Z0) + Φ_h(Z0), also kept in the tape.
  const auto y0 = rows_from<T>(x0, 0), z0 = rows_from<T>(x0, dim);
  const auto y1 = rows_from<T>(x1, 0), z1 = rows_from<T>(x1, dim), kept = rows_from<T>(tape, 0);
  const auto phi = whole(phi_);
  for (Index j = 0; j < batch; ++j)
    for (Index r = 0; r < dim; ++r)
      kept.col(j)[r] = y1.col(j)[r] = mul_add(lambda, y0.col(j)[r] - z0.col(j)[r], phi.col(j)[r]);
  // The base step runs from t1 back to t0, i.e. with step −h.
  base_step(f, t1, t0, x1.data(), x1.outerStride(), dim, batch, theta,
            tape.data() + (batch + cols) * ld, ld, error);
  // Z1 = Z0 + (Y1 − Φ_{−h}(Y1)).
  for (Index j = 0; j < batch; ++j)
    for (Index r = 0; r < dim; ++r)
      z1.col(j)[r] = z0.col(j)[r] + (y1.col(j)[r] - phi.col(j)[r]);
}

template <class T>
void McCallumFoster<T>::reverse_step_with_tape(const VectorField<T>& f, T t0, T t1,
                                               const ConstBatchRef<T>& x1,
                                               const ConstVectorRef<T>& theta, BatchRef<T> x0,
                                               BatchRef<T> tape) const {
  const Index dim = x1.rows() / 2, batch = x1.cols(), cols = base_.tape_cols(batch);
  const T lambda = T(coupling_);
  const auto y1 = rows_from<T>(x1, 0), z1 = rows_from<T>(x1, dim);
  const auto y0 = rows_from<T>(x0, 0), z0 = rows_from<T>(x0, dim), kept = rows_from<T>(tape, 0);
  require_tape(tape.rows(), tape.cols(), dim, tape_cols(batch));
  const Index ld = tape.outerStride();
  for (Index j = 0; j < batch; ++j)
    for (Index r = 0; r < dim; ++r) kept.col(j)[r] = y1.col(j)[r];
  base_step(f, t1, t0, x1.data(), x1.outerStride(), dim, batch, theta,
            tape.data() + (batch + cols) * ld, ld, nullptr);
  const auto phi = whole(phi_);
  // Z0 = Z1 − (Y1 − Φ_{−h}(Y1)).
  for (Index j = 0; j < batch; ++j)
    for (Index r = 0; r < dim; ++r)
      z0.col(j)[r] = z1.col(j)[r] - (y1.col(j)[r] - phi.col(j)[r]);
  base_step(f, t0, t1, x0.data() + dim, x0.outerStride(), dim, batch, theta,
            tape.data() + batch * ld, ld, nullptr);
  // Y0 = (Y1 − Φ_h(Z0)) / λ + Z0.
  for (Index j = 0; j < batch; ++j)
    for (Index r = 0; r < dim; ++r)
      y0.col(j)[r] = (y1.col(j)[r] - phi.col(j)[r]) / lambda + z0.col(j)[r];
}

template <class T>
bool McCallumFoster<T>::end_derivative(const ConstBatchRef<T>& tape, const ConstBatchRef<T>& y1,
                                       BatchRef<T> out) const {
  const Index batch = y1.cols(), cols = base_.tape_cols(batch);
  if (tape.rows() != y1.rows() || tape.cols() != tape_cols(batch)) return false;
  // Only the tape of a step that ended at exactly y1 holds f(t1, y1).
  if (!bits_equal<T>(tape.leftCols(batch), y1)) return false;
  return base_.start_derivative(tape.middleCols(batch + cols, cols), batch, out);
}

template <class T>
void McCallumFoster<T>::reverse_step(const VectorField<T>& f, T t0, T t1,
                                     const ConstBatchRef<T>& x1, const ConstVectorRef<T>& theta,
                                     BatchRef<T> x0) const {
  tape_.resize(f.state_dim(), tape_cols(x1.cols()));
  reverse_step_with_tape(f, t0, t1, x1, theta, x0, tape_);
}

template <class T>
void McCallumFoster<T>::step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                                 const ConstVectorRef<T>& theta, const ConstBatchRef<T>& tape,
                                 const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                                 VectorRef<T> theta_bar) const {
  const Index dim = x0.rows() / 2, batch = x0.cols(), cols = base_.tape_cols(batch);
  const T lambda = T(coupling_);
  const auto y1_bar = rows_from<T>(x1_bar, 0), z1_bar = rows_from<T>(x1_bar, dim);
  // Z1 = Z0 + Y1 − Φ_{−h}(Y1): the transpose of −Φ_{−h} is applied to −Z̄1, so θ̄ receives
  // the minus sign through the cotangent.
  fit(cotangent_, dim, batch);
  fit(y1_bar_, dim, batch);
  fit(z0_bar_, dim, batch);
  const auto cotangent = whole(cotangent_), y1b = whole(y1_bar_), z0b = whole(z0_bar_);
  for (Index j = 0; j < batch; ++j)
    for (Index r = 0; r < dim; ++r) cotangent.col(j)[r] = -z1_bar.col(j)[r];
  require_tape(tape.rows(), tape.cols(), dim, tape_cols(batch));
  const Index ld = tape.outerStride();
  base_vjp(f, t1, t0, tape.data(), ld, dim, batch, theta, tape.data() + (batch + cols) * ld, ld,
           cotangent_, y1_bar_, theta_bar);
  // Ȳ1 updated before it feeds anything else (ALGORITHMS.md §4).
  for (Index j = 0; j < batch; ++j)
    for (Index r = 0; r < dim; ++r)
      y1b.col(j)[r] = y1b.col(j)[r] + (y1_bar.col(j)[r] + z1_bar.col(j)[r]);
  // Y1 = λ Y0 − λ Z0 + Φ_h(Z0).
  base_vjp(f, t0, t1, x0.data() + dim, x0.outerStride(), dim, batch, theta,
           tape.data() + batch * ld, ld, y1_bar_, z0_bar_, theta_bar);
  const auto y0_bar = rows_from<T>(x0_bar, 0), z0_bar = rows_from<T>(x0_bar, dim);
  for (Index j = 0; j < batch; ++j)
    for (Index r = 0; r < dim; ++r) {
      y0_bar.col(j)[r] = lambda * y1b.col(j)[r];
      z0_bar.col(j)[r] = mul_add(-lambda, y1b.col(j)[r], z1_bar.col(j)[r]) + z0b.col(j)[r];
    }
}

template class McCallumFoster<float>;
template class McCallumFoster<double>;

}  // namespace revode
