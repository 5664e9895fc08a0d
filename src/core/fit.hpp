/// resize() unless the size is right already: Eigen's resize checks for overflow with a 64-bit
/// division on every call, which perf found in each step at batch 1 (the solvers' scratch, the
/// save walk's per-save blocks). Internal to src.
#pragma once

#include "revode/core/types.hpp"

namespace revode {

template <class T>
void fit(Batch<T>& m, Index rows, Index cols) {
  if (m.rows() != rows || m.cols() != cols) m.resize(rows, cols);
}

}  // namespace revode
