/// Clipping by global norm (Pascanu, Mikolov & Bengio 2013, Algorithm 1; optax's
/// clip_by_global_norm): rescale the whole gradient when its Euclidean norm exceeds a bound, so
/// its direction is kept and one exploding step cannot throw the parameters far away.
#pragma once

#include "revode/core/types.hpp"

namespace revode {

/// Scales grad by max_norm / ‖grad‖ when ‖grad‖ > max_norm; max_norm = +inf never clips.
/// @return ‖grad‖ before clipping.
/// @throws revode::Error unless max_norm > 0 (NaN included), and when grad holds NaN or Inf or
/// its norm overflows (grad is then left unchanged).
double clip_global_norm(VectorRef<double> grad, double max_norm);

}  // namespace revode
