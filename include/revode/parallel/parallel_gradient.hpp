/// Batch-parallel gradients and solves, and per-sample step sizes (docs/parallel.md).
///
/// The batch is cut into column chunks whose width does not depend on the thread count, and
/// results are combined in chunk order, so every thread count gives bit-identical results.
/// Two regimes:
/// - independent chunks: fixed steps with a separable loss, or per-sample steps (chunks of
///   one sample, each with its own adaptive step sequence). Each chunk is a whole problem:
///   the gradient method runs forward and backward on it alone (the loss restricted to the
///   chunk's columns, scaled as the whole batch's) and the threads meet only at the end;
/// - a shared adaptive step size (or a loss that sees the whole batch): one solve whose field
///   evaluations are split into chunks (ParallelField); the threads meet at every evaluation.
#pragma once

#include <algorithm>
#include <vector>

#include "revode/gradients/gradient_method.hpp"
#include "revode/parallel/executor.hpp"

namespace revode {

/// Columns per chunk unless ParallelOptions says otherwise: batches up to this width run as
/// one chunk, exactly as without an executor (docs/parallel.md has the measurement).
inline constexpr Index default_chunk_columns = 64;

struct ParallelOptions {
  /// Each sample its own adaptive step sequence (accepted and rejected counts, step sizes),
  /// for every solver and gradient method: chunks of one sample. Needs a separable loss.
  bool per_sample_steps = false;
  /// Columns per chunk (0: default_chunk_columns); ignored under per_sample_steps.
  Index chunk_columns = 0;
};

/// The chunks of a batch: chunk c covers columns [first(c), first(c) + size(c)).
struct ChunkPlan {
  Index batch = 0, columns = 1;
  Index count() const { return (batch + columns - 1) / columns; }
  Index first(Index c) const { return c * columns; }
  Index size(Index c) const { return std::min(columns, batch - c * columns); }
};

/// The chunk width `options` give for a batch (throws revode::Error on chunk_columns < 0).
Index chunk_columns(const ParallelOptions& options);

/// `method` on `problem`, its batch split over `executor`'s threads (see the file comment).
/// The same numbers for every thread count; with one chunk, exactly method.compute(problem).
/// Stats: counts summed over the chunks (steps and rejected are totals; stored_floats the sum
/// of the chunks' peaks, what the chunks would hold at once on as many threads as chunks),
/// their spread in stats.spread and each chunk's stats in chunk_stats. Under per-sample steps
/// with SaveAt::every_step the samples save at different times: ts is then empty.
/// @throws revode::Error for a bad option, a loss that cannot be split under per-sample steps,
/// or the first failing chunk's error (smallest chunk index, any thread count).
template <class T>
GradientResult<T> parallel_gradient(const GradientMethod<T>& method,
                                    const GradientProblem<T>& problem, Executor& executor,
                                    const ParallelOptions& options = {});

/// A parallel solve: save times and states of every sample (columns as in y0), stats as in
/// parallel_gradient. Under per-sample steps with SaveAt::every_step each sample keeps its
/// own step times: `chunks` then holds one Solution per sample and ts/ys are empty.
template <class T>
struct ParallelSolution {
  std::vector<double> ts;
  std::vector<Batch<T>> ys;
  SolveStats stats;
  std::vector<SolveStats> chunk_stats;
  std::vector<Solution<T>> chunks;  ///< only when the chunks' save times differ
};

template <class T>
ParallelSolution<T> parallel_solve(const VectorField<T>& f, const Stepper<T>& stepper,
                                   const StepControl& control, const SaveAt& save_at, double t0,
                                   double t1, const NonDeduced<ConstBatchRef<T>>& y0,
                                   const NonDeduced<ConstVectorRef<T>>& theta, Executor& executor,
                                   const ParallelOptions& options = {});

}  // namespace revode
