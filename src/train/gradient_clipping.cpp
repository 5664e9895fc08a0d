#include "revode/train/gradient_clipping.hpp"

#include "revode/core/error.hpp"

namespace revode {

double clip_global_norm(VectorRef<double> grad, double max_norm) {
  require(max_norm > 0, "gradient clip norm = {}; required: > 0 (+inf for no clipping)",
          max_norm);
  const double norm = grad.norm();
  if (norm > max_norm) grad *= max_norm / norm;
  return norm;
}

}  // namespace revode
