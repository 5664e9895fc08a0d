#include "revode/train/gradient_clipping.hpp"

#include <cmath>

#include "revode/core/error.hpp"

namespace revode {

double clip_global_norm(VectorRef<double> grad, double max_norm) {
  require(max_norm > 0, "gradient clip norm = {}; required: > 0 (+inf for no clipping)",
          max_norm);
  double norm = grad.norm();
  // The plain norm overflows for entries above ~1e154; the scaled one only when the norm does.
  if (!std::isfinite(norm) && grad.allFinite()) norm = grad.stableNorm();
  require(std::isfinite(norm),
          "gradient norm is {}: the gradient contains NaN or Inf or its norm overflows", norm);
  if (norm > max_norm) grad *= max_norm / norm;
  return norm;
}

}  // namespace revode
