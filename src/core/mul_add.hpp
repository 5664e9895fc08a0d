/// c · k + acc with one rounding where the target has a fast fma, two otherwise: written out,
/// so that what is fused does not depend on how the compiler contracts each inlined copy (the
/// solvers' stage sums and the fixed-size MLP kernels rely on it for their bit-identities).
/// Internal to src.
#pragma once

#include <cmath>

namespace revode {

template <class T>
inline T mul_add(T c, T k, T acc) {
#if defined(FP_FAST_FMA) && defined(FP_FAST_FMAF)
  return std::fma(c, k, acc);
#else
  return c * k + acc;
#endif
}

}  // namespace revode
