#include "revode/parallel/parallel_gradient.hpp"

#include <algorithm>
#include <memory>
#include <variant>

#include "revode/core/chunks_in_flight.hpp"
#include "revode/core/error.hpp"
#include "revode/parallel/parallel_field.hpp"

namespace revode {
namespace {

/// Chunks are whole problems (run alone, combined at the end) or column ranges of one solve.
bool independent_chunks(const StepControl& control, bool separable_loss,
                        const ParallelOptions& options) {
  return options.per_sample_steps ||
         (std::holds_alternative<FixedSteps>(control) && separable_loss);
}

/// One chunk of the whole batch when the field's columns cannot be split (CDE, SDE).
template <class T>
ChunkPlan plan_for(const VectorField<T>& f, Index batch, const ParallelOptions& options) {
  require(f.column_local() || !options.per_sample_steps,
          "per-sample steps solve every sample alone, but the columns of {} are tied to their "
          "place in the batch (per-sample control or Brownian paths); use shared steps",
          f.name());
  if (!f.column_local()) return {batch, batch};
  return {batch, options.per_sample_steps ? 1 : chunk_columns(options)};
}

/// The field and stepper each thread works with: the originals on the caller's thread
/// (worker 0), clones elsewhere. `parallel` is false when the stepper cannot be cloned.
template <class T>
struct WorkerCopies {
  WorkerCopies(const VectorField<T>& f, const Stepper<T>& s, Index threads) : field(f), stepper(s) {
    for (Index w = 1; w < threads && parallel; ++w) {
      fields.push_back(f.clone());
      steppers.push_back(s.clone());
      parallel = fields.back() != nullptr && steppers.back() != nullptr;
    }
  }
  const VectorField<T>& field_of(Index w) const {
    return w == 0 ? field : *fields[std::size_t(w - 1)];
  }
  const Stepper<T>& stepper_of(Index w) const {
    return w == 0 ? stepper : *steppers[std::size_t(w - 1)];
  }
  /// Runs task(c, worker) for every chunk: on the executor, or serially when a copy is missing.
  /// Each task counts the chunks that run at once for the memory limit: REVODE_MEMORY_LIMIT
  /// holds for all the chunks in flight together, not for each (chunks_in_flight.hpp).
  void run(Executor& executor, Index count, const Executor::Task& task) const {
    const Index in_flight = parallel ? executor.concurrency(count) : 1;
    const auto counted = [&](Index c, Index worker) {
      const ChunksInFlight scope(in_flight);
      task(c, worker);
    };
    if (parallel) return executor.parallel_for(count, counted);
    for (Index c = 0; c < count; ++c) counted(c, 0);
  }

  const VectorField<T>& field;
  const Stepper<T>& stepper;
  std::vector<std::unique_ptr<VectorField<T>>> fields;
  std::vector<std::unique_ptr<Stepper<T>>> steppers;
  bool parallel = true;
};

GuardStats merge(const GuardStats& a, const GuardStats& b) {
  GuardStats m = a.active ? a : b;
  m.active = a.active || b.active;
  m.drift = std::max(a.drift, b.drift);
  m.repaired = a.repaired || b.repaired;
  m.flagged = a.flagged || b.flagged;
  m.anchors = a.anchors + b.anchors;
  m.segment_steps = std::max(a.segment_steps, b.segment_steps);
  m.segments_inverted = a.segments_inverted + b.segments_inverted;
  m.segments_recomputed = a.segments_recomputed + b.segments_recomputed;
  m.y0_cancellation = std::max(a.y0_cancellation, b.y0_cancellation);
  m.gradient_error_bound = std::max(a.gradient_error_bound, b.gradient_error_bound);
  return m;
}

Index lower_median(std::vector<Index> values) {
  std::sort(values.begin(), values.end());
  return values[(values.size() - 1) / 2];
}

/// Totals over the chunks, in chunk order, and the spread of steps and rejections.
SolveStats combine(const std::vector<SolveStats>& chunks) {
  SolveStats total;
  std::vector<Index> steps, rejected;
  for (const SolveStats& s : chunks) {
    total.nfe += s.nfe;
    total.nvjp += s.nvjp;
    total.steps += s.steps;
    total.rejected += s.rejected;
    total.stored_floats += s.stored_floats;
    total.recomputed_steps += s.recomputed_steps;
    total.reconstruction_error = std::max(total.reconstruction_error, s.reconstruction_error);
    total.guard = merge(total.guard, s.guard);
    steps.push_back(s.steps);
    rejected.push_back(s.rejected);
  }
  ChunkSpread& spread = total.spread;
  spread.chunks = Index(chunks.size());
  spread.min_steps = *std::min_element(steps.begin(), steps.end());
  spread.max_steps = *std::max_element(steps.begin(), steps.end());
  spread.median_steps = lower_median(steps);
  spread.min_rejected = *std::min_element(rejected.begin(), rejected.end());
  spread.max_rejected = *std::max_element(rejected.begin(), rejected.end());
  spread.median_rejected = lower_median(rejected);
  return total;
}

}  // namespace

Index chunk_columns(const ParallelOptions& options) {
  require(options.chunk_columns >= 0, "chunk_columns is {} but must be ≥ 1 (0: the default, {})",
          options.chunk_columns, default_chunk_columns);
  return options.chunk_columns == 0 ? default_chunk_columns : options.chunk_columns;
}

template <class T>
GradientResult<T> parallel_gradient(const GradientMethod<T>& method, const GradientProblem<T>& p,
                                    Executor& executor, const ParallelOptions& options) {
  const ChunkPlan plan = plan_for(p.field, p.y0.cols(), options);
  require(!options.per_sample_steps || p.loss.separable(),
          "per-sample steps solve every sample alone, but this loss sees the whole batch at "
          "once (a callback loss); use a per-sample loss (mse-data, mse-zero) or shared steps");
  if (plan.count() <= 1) return method.compute(p);

  if (!independent_chunks(p.control, p.loss.separable(), options)) {
    // One shared step size: one solve, its field evaluations split into the chunks.
    const ParallelField<T> field(p.field, executor, plan.columns);
    const GradientProblem<T> shared{field, p.stepper, p.control, p.save_at, p.t0,
                                    p.t1,  p.y0,      p.theta,   p.loss};
    return method.compute(shared);
  }

  const WorkerCopies<T> copies(p.field, p.stepper, executor.threads());
  std::vector<GradientResult<T>> results(std::size_t(plan.count()));
  copies.run(executor, plan.count(), [&](Index c, Index worker) {
    const ColumnSlice<T> loss(p.loss, plan.first(c), plan.size(c), plan.batch);
    const GradientProblem<T> chunk{copies.field_of(worker),
                                   copies.stepper_of(worker),
                                   p.control,
                                   p.save_at,
                                   p.t0,
                                   p.t1,
                                   p.y0.middleCols(plan.first(c), plan.size(c)),
                                   p.theta,
                                   loss};
    results[std::size_t(c)] = method.compute(chunk);
  });

  // Combine in chunk order: the same sums for every thread count.
  GradientResult<T> result;
  result.grad_params = std::move(results[0].grad_params);
  result.grad_y0.resize(p.y0.rows(), plan.batch);
  result.ts = results[0].ts;
  for (Index c = 0; c < plan.count(); ++c) {
    GradientResult<T>& chunk = results[std::size_t(c)];
    result.loss += chunk.loss;
    if (c > 0) result.grad_params += chunk.grad_params;
    result.grad_y0.middleCols(plan.first(c), plan.size(c)) = chunk.grad_y0;
    if (chunk.ts != result.ts) result.ts.clear();
    result.chunk_stats.push_back(chunk.stats);
  }
  result.stats = combine(result.chunk_stats);
  return result;
}

template <class T>
ParallelSolution<T> parallel_solve(const VectorField<T>& f, const Stepper<T>& stepper,
                                   const StepControl& control, const SaveAt& save_at, double t0,
                                   double t1, const NonDeduced<ConstBatchRef<T>>& y0,
                                   const NonDeduced<ConstVectorRef<T>>& theta, Executor& executor,
                                   const ParallelOptions& options) {
  const ChunkPlan plan = plan_for(f, y0.cols(), options);
  ParallelSolution<T> out;
  if (plan.count() <= 1 || !independent_chunks(control, true, options)) {
    Solution<T> solution;
    if (plan.count() <= 1) {
      solution = solve(f, stepper, control, save_at, t0, t1, y0, theta);
    } else {
      const ParallelField<T> field(f, executor, plan.columns);
      solution = solve<T>(field, stepper, control, save_at, t0, t1, y0, theta);
    }
    out.ts = std::move(solution.ts);
    out.ys = std::move(solution.ys);
    out.stats = solution.stats;
    return out;
  }

  const WorkerCopies<T> copies(f, stepper, executor.threads());
  std::vector<Solution<T>> chunks(std::size_t(plan.count()));
  copies.run(executor, plan.count(), [&](Index c, Index worker) {
    chunks[std::size_t(c)] =
        solve<T>(copies.field_of(worker), copies.stepper_of(worker), control, save_at, t0, t1,
                 y0.middleCols(plan.first(c), plan.size(c)), theta);
  });
  bool same_times = true;
  for (const Solution<T>& chunk : chunks) {
    out.chunk_stats.push_back(chunk.stats);
    same_times = same_times && chunk.ts == chunks[0].ts;
  }
  out.stats = combine(out.chunk_stats);
  if (!same_times) {
    out.chunks = std::move(chunks);
    return out;
  }
  out.ts = chunks[0].ts;
  for (std::size_t k = 0; k < out.ts.size(); ++k) {
    Batch<T> y(y0.rows(), plan.batch);
    for (Index c = 0; c < plan.count(); ++c)
      y.middleCols(plan.first(c), plan.size(c)) = chunks[std::size_t(c)].ys[k];
    out.ys.push_back(std::move(y));
  }
  return out;
}

template GradientResult<float> parallel_gradient(const GradientMethod<float>&,
                                                 const GradientProblem<float>&, Executor&,
                                                 const ParallelOptions&);
template GradientResult<double> parallel_gradient(const GradientMethod<double>&,
                                                  const GradientProblem<double>&, Executor&,
                                                  const ParallelOptions&);
template ParallelSolution<float> parallel_solve(const VectorField<float>&, const Stepper<float>&,
                                                const StepControl&, const SaveAt&, double, double,
                                                const ConstBatchRef<float>&,
                                                const ConstVectorRef<float>&, Executor&,
                                                const ParallelOptions&);
template ParallelSolution<double> parallel_solve(const VectorField<double>&, const Stepper<double>&,
                                                 const StepControl&, const SaveAt&, double, double,
                                                 const ConstBatchRef<double>&,
                                                 const ConstVectorRef<double>&, Executor&,
                                                 const ParallelOptions&);

}  // namespace revode
