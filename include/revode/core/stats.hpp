/// Statistics every solve and every gradient reports (STYLE.md E7).
#pragma once

#include <string>

#include "revode/core/types.hpp"

namespace revode {

/// What the reconstruction guard of a reversible gradient saw and did
/// (gradients/reversible_guard.hpp); all zero for methods that rebuild nothing.
struct GuardStats {
  bool active = false;       ///< a guarded (reversible) walk ran
  std::string policy;        ///< "repair", "error" or "warn"
  double tolerance = 0;      ///< relative drift accepted
  double drift = 0;          ///< relative drift of the first backward walk at the start state
  bool repaired = false;     ///< the first walk drifted and its gradient was recomputed
  bool flagged = false;      ///< policy warn: returned although it drifted
  Index anchors = 0;         ///< states kept by the repair's forward replay
  Index segment_steps = 0;   ///< steps per repair segment
  Index segments_inverted = 0;    ///< repair segments rebuilt by inversion
  Index segments_recomputed = 0;  ///< repair segments rebuilt by forward recomputation
  /// How many times larger the parts of ȳ0 are than their sum: Σ_blocks ‖what block b of the
  /// start state's cotangent x̄0 gives ȳ0‖ / ‖ȳ0‖, at least 1. A drift δ of the rebuilt states
  /// is an error of about δ times the parts in ȳ0, so ȳ0's relative error is about δ times
  /// this (reversible_guard.hpp, "the bound").
  double y0_cancellation = 1;
  /// Estimated bound on the relative error of the returned gradient (θ̄ and ȳ0): the largest
  /// relative drift of the walk it came from, times y0_cancellation.
  double gradient_error_bound = 0;
};

/// How the accepted and rejected steps spread over the chunks of a chunked solve
/// (parallel_gradient, parallel_solve; with per-sample steps one chunk is one sample).
struct ChunkSpread {
  Index chunks = 0;  ///< 0: the solve was not chunked
  Index min_steps = 0, median_steps = 0, max_steps = 0;
  Index min_rejected = 0, median_rejected = 0, max_rejected = 0;
};

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
  GuardStats guard;
  /// A chunked solve: steps and rejected above are totals over the chunks, spread here.
  ChunkSpread spread;

  std::string brief() const;
};

}  // namespace revode
