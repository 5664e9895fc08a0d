/// Statistics every solve and every gradient reports (STYLE.md E7).
#pragma once

#include <string>

#include "revode/core/types.hpp"

namespace revode {

struct SolveStats {
  Index nfe = 0;       ///< vector-field evaluations (one per batch call)
  Index nvjp = 0;      ///< vector-Jacobian products (one per batch call)
  Index steps = 0;     ///< accepted steps of the forward solve
  Index rejected = 0;  ///< rejected steps of the forward solve
  /// Peak number of scalars the gradient method kept alive at once (states, stages, network
  /// intermediates, cotangents); 0 for a plain solve.
  Index stored_floats = 0;
  Index recomputed_steps = 0;  ///< forward steps re-run during the backward pass
  /// Reversible backprop: max |ỹ0 − y0| / max |y0| over the batch, where ỹ0 is y0 as rebuilt
  /// by the backward walk (round-off amplified by the inverse steps); 0 for other methods.
  double reconstruction_error = 0;

  std::string brief() const;
};

}  // namespace revode
