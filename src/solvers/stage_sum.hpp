/// The stage combinations of an explicit Runge–Kutta step, out = y + Σ_n c_n k_n, written as
/// plain loops over the state (private to the solvers).
///
/// Why not Eigen expressions: at batch 1 the state has a handful of rows, and each
/// `out += c * k` on dynamic blocks of a Ref paid for its expression set-up, size checks and
/// packet/tail dispatch per term, which perf put at ~15% of the white-dwarf gradient.
///
/// Rounding: every term is one fused multiply-add, acc ← fma(c_n, k_n, acc), in the order the
/// terms are given (where the target has a fast fma; otherwise c_n · k_n then +, two
/// roundings). That is what GCC's contraction made of Eigen's scalar loops, but here it is
/// written out, so it is the same for every element whatever the batch width, the column's
/// place in the batch or the block's strides: a column's result does not depend on which
/// chunk of columns it was computed in (the parallel paths' bit-identity).
#pragma once

#include <cmath>

#include "revode/core/types.hpp"
#include "../core/mul_add.hpp"

namespace revode::stage_sum {

using revode::mul_add;  // c · k + acc, one rounding where the target has a fast fma

/// A column-major block by its first element and the distance between its columns.
template <class T>
struct Cols {
  T* data;
  Index stride;
  T* col(Index j) const { return data + j * stride; }
};

template <class T>
Cols<const T> cols(const Eigen::Ref<const Batch<T>>& m) {
  return {m.data(), m.outerStride()};
}
template <class T>
Cols<T> cols(Eigen::Ref<Batch<T>>& m) {
  return {m.data(), m.outerStride()};
}

/// out = y + Σ_{n < terms} c[n] k[n], each block `rows` × `batch`. `out` may alias `y` (then
/// it accumulates in place) but none of the k[n].
template <class T>
void combine(Cols<const T> y, const T* c, const Cols<const T>* k, int terms, Index rows,
             Index batch, Cols<T> out) {
  for (Index j = 0; j < batch; ++j) {
    const T* yj = y.col(j);
    T* oj = out.col(j);
    if (oj != yj)
      for (Index r = 0; r < rows; ++r) oj[r] = yj[r];
    for (int n = 0; n < terms; ++n) {
      const T cn = c[n];
      const T* kj = k[n].col(j);
      for (Index r = 0; r < rows; ++r) oj[r] = mul_add(cn, kj[r], oj[r]);
    }
  }
}

/// out = c · y (one rounding per element).
template <class T>
void scale(T c, Cols<const T> y, Index rows, Index batch, Cols<T> out) {
  for (Index j = 0; j < batch; ++j) {
    const T* yj = y.col(j);
    T* oj = out.col(j);
    for (Index r = 0; r < rows; ++r) oj[r] = c * yj[r];
  }
}

/// out += y.
template <class T>
void add(Cols<const T> y, Index rows, Index batch, Cols<T> out) {
  for (Index j = 0; j < batch; ++j) {
    const T* yj = y.col(j);
    T* oj = out.col(j);
    for (Index r = 0; r < rows; ++r) oj[r] += yj[r];
  }
}

}  // namespace revode::stage_sum
