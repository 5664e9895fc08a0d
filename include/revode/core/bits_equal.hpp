/// Bit-for-bit equality of two batches, for reuse decisions that must not change a result:
/// a value computed at a state may stand in for another evaluation only at the same bits
/// (−0 and +0 differ, a NaN equals the same NaN).
#pragma once

#include <cstring>

#include "revode/core/types.hpp"

namespace revode {

template <class T>
bool bits_equal(const ConstBatchRef<T>& a, const ConstBatchRef<T>& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (Index j = 0; j < a.cols(); ++j)  // column by column: either may be a block with a stride
    if (std::memcmp(a.col(j).data(), b.col(j).data(), sizeof(T) * std::size_t(a.rows())) != 0)
      return false;
  return true;
}

}  // namespace revode
