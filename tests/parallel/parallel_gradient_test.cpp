// Batch-parallel gradients (parallel_gradient) and per-sample step sizes: bit-identical
// results for every thread count, chunked results equal to the whole batch's to round-off,
// and the exactness property over per-sample steps (every gradient method against direct
// backprop through the same per-sample discretisation, ≤ 1e-10).
#include "revode/parallel/parallel_gradient.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "revode/core/error.hpp"
#include "revode/gradients/direct_backprop.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/parallel/executor.hpp"
#include "revode/solvers/registry.hpp"
#include "support/error_of.hpp"
#include "support/finite_difference.hpp"

namespace revode {
namespace {

using testing::error_of;
using testing::relative_error;

/// A small MLP field, its parameters and a batch whose samples differ in scale, so that
/// adaptive per-sample solves take different numbers of steps.
struct Case {
  explicit Case(Index batch)
      : field(parse_mlp_spec("2,8,2")),
        theta(field.init_params(Init::pytorch_default, 3)),
        y0(Batch<double>::Random(2, batch)) {
    for (Index j = 0; j < batch; ++j) y0.col(j) *= 0.2 + 3.0 * double(j) / double(batch);
  }
  Mlp<double> field;
  Vector<double> theta;
  Batch<double> y0;
};

bool bit_equal(const GradientResult<double>& a, const GradientResult<double>& b) {
  return a.loss == b.loss && a.grad_params.size() == b.grad_params.size() &&
         (a.grad_params.array() == b.grad_params.array()).all() &&
         a.grad_y0.cols() == b.grad_y0.cols() && (a.grad_y0.array() == b.grad_y0.array()).all() &&
         a.stats.nfe == b.stats.nfe && a.stats.steps == b.stats.steps;
}

TEST(Executor, RunsEveryTaskOnceAndRethrowsTheSmallestFailure) {
  Executor pool(3);
  EXPECT_EQ(pool.threads(), 3);
  std::vector<std::atomic<int>> hits(100);
  pool.parallel_for(100, [&](Index i, Index worker) {
    ASSERT_GE(worker, 0);
    ASSERT_LT(worker, 3);
    ++hits[std::size_t(i)];
  });
  for (const auto& h : hits) EXPECT_EQ(h.load(), 1);
  for (int repeat = 0; repeat < 20; ++repeat) {
    try {
      pool.parallel_for(50, [&](Index i, Index) {
        if (i % 7 == 3) throw Error(fmt::format("task {}", i));
      });
      FAIL() << "no exception";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "task 3");
    }
  }
  // Nested: the inner loop runs serially on the calling thread instead of deadlocking.
  std::atomic<int> inner{0};
  pool.parallel_for(4, [&](Index, Index) {
    pool.parallel_for(5, [&](Index, Index worker) {
      EXPECT_EQ(worker, 0);
      ++inner;
    });
  });
  EXPECT_EQ(inner.load(), 20);
  EXPECT_GE(Executor(0).threads(), 1);
  EXPECT_NE(error_of([] { Executor bad(-2); }).find("threads is -2"), std::string::npos);
}

struct Mode {
  std::string name, solver, method;
  StepControl control;
  bool per_sample;
};

std::vector<Mode> modes() {
  const AdaptiveSteps adaptive{.rtol = 1e-6, .atol = 1e-8};
  return {{"fixed backprop", "midpoint", "backprop", FixedSteps{20}, false},
          {"fixed reversible", "reversible:rk4", "reversible", FixedSteps{20}, false},
          {"shared adaptive backprop", "dopri5", "backprop", adaptive, false},
          {"shared adaptive checkpoint", "dopri5", "checkpoint:3", adaptive, false},
          {"per-sample backprop", "dopri5", "backprop", adaptive, true},
          {"per-sample reversible", "reversible:dopri5", "reversible", adaptive, true}};
}

TEST(ParallelGradient, BitIdenticalForEveryThreadCount) {
  const Case c(37);  // 37 = 7 chunks of 5 and one of 2
  std::vector<Batch<double>> data;
  for (int k = 0; k < 6; ++k) data.push_back(Batch<double>::Random(2, 37));
  const MseData<double> loss(data);
  Executor one(1), two(2), three(3);
  for (const Mode& m : modes()) {
    SCOPED_TRACE(m.name);
    const auto stepper = make_stepper<double>(m.solver);
    const auto method = make_gradient_method<double>(m.method);
    const GradientProblem<double> p{
        c.field, *stepper, m.control, SaveAt::linspace(0, 2, 6), 0.0, 2.0, c.y0, c.theta, loss};
    const ParallelOptions options{.per_sample_steps = m.per_sample, .chunk_columns = 5};
    const auto r1 = parallel_gradient(*method, p, one, options);
    const auto r2 = parallel_gradient(*method, p, two, options);
    const auto r3 = parallel_gradient(*method, p, three, options);
    EXPECT_TRUE(bit_equal(r1, r2));
    EXPECT_TRUE(bit_equal(r1, r3));
    // ... and equal to the whole batch's gradient up to the order of summation.
    if (!m.per_sample) {
      const auto whole = method->compute(p);
      EXPECT_NEAR(r1.loss, whole.loss, 1e-13 * whole.loss);
      EXPECT_LE(relative_error(r1.grad_params, whole.grad_params), 1e-12);
      EXPECT_LE(relative_error(r1.grad_y0, whole.grad_y0), 1e-12);
      EXPECT_EQ(r1.ts, whole.ts);
    }
  }
}

TEST(ParallelGradient, OneChunkIsExactlyTheMethod) {
  const Case c(16);
  const MseZero<double> loss;
  const auto stepper = make_stepper<double>("dopri5");
  const GradientProblem<double> p{
      c.field, *stepper, FixedSteps{10}, SaveAt::final_time(1.0), 0.0, 1.0, c.y0, c.theta, loss};
  Executor pool(2);
  const DirectBackprop<double> backprop;
  EXPECT_TRUE(bit_equal(parallel_gradient(backprop, p, pool), backprop.compute(p)));
}

/// REVODE_MEMORY_LIMIT holds for the chunks that run at once: a limit that one chunk's
/// backprop tape fits but two do not passes on one thread (one chunk at a time) and is refused
/// on two, naming the chunk's need, the number of chunks in flight and the limit.
TEST(ParallelGradient, MemoryLimitCountsTheChunksInFlight) {
  const Case c(20);  // two chunks of 10
  const MseZero<double> loss;
  const auto stepper = make_stepper<double>("midpoint");
  const Index steps = 500, dim = 2, columns = 10;
  const GradientProblem<double> p{c.field, *stepper, FixedSteps{steps}, SaveAt::final_time(1.0),
                                  0.0,     1.0,      c.y0,              c.theta,
                                  loss};
  // What backprop's forward checks for one chunk: every step's start state and tape.
  const Index chunk_bytes =
      steps * (stepper->state_copies() * dim * columns + dim * stepper->tape_cols(columns)) *
      Index(sizeof(double));
  const std::string limit = std::to_string(chunk_bytes + chunk_bytes / 2);
  ::setenv("REVODE_MEMORY_LIMIT", limit.c_str(), 1);
  Executor one(1), two(2);
  const DirectBackprop<double> backprop;
  const ParallelOptions options{.chunk_columns = columns};
  const std::string serial = error_of([&] { (void)parallel_gradient(backprop, p, one, options); });
  const std::string parallel =
      error_of([&] { (void)parallel_gradient(backprop, p, two, options); }, "no error");
  ::unsetenv("REVODE_MEMORY_LIMIT");
  EXPECT_EQ(serial, "");
  EXPECT_NE(parallel.find(fmt::format("would need {} bytes", chunk_bytes)), std::string::npos)
      << parallel;
  EXPECT_NE(parallel.find("per chunk, and 2 chunks run at once"), std::string::npos) << parallel;
  EXPECT_NE(parallel.find(fmt::format("{} bytes", 2 * chunk_bytes)), std::string::npos)
      << parallel;
  EXPECT_NE(parallel.find("above the limit of"), std::string::npos) << parallel;
  EXPECT_NE(parallel.find("REVODE_MEMORY_LIMIT"), std::string::npos) << parallel;
  // Without the limit both run, with the same numbers.
  EXPECT_TRUE(bit_equal(parallel_gradient(backprop, p, one, options),
                        parallel_gradient(backprop, p, two, options)));
}

/// Per-sample steps: each sample's part of the result is the sample solved alone.
TEST(ParallelGradient, PerSampleStepsAreEachSampleAlone) {
  const Case c(6);
  const MseZero<double> loss;
  const auto stepper = make_stepper<double>("bosh3");
  const AdaptiveSteps control{.rtol = 1e-7, .atol = 1e-9};
  const GradientProblem<double> p{c.field, *stepper, control, SaveAt::linspace(0, 3, 4), 0.0, 3.0,
                                  c.y0,    c.theta,  loss};
  Executor pool(2);
  const DirectBackprop<double> backprop;
  const auto r = parallel_gradient(backprop, p, pool, {.per_sample_steps = true});
  ASSERT_EQ(r.chunk_stats.size(), 6u);
  double loss_sum = 0;
  for (Index j = 0; j < 6; ++j) {
    const GradientProblem<double> alone{c.field, *stepper,    control, p.save_at, 0.0,
                                        3.0,     c.y0.col(j), c.theta, loss};
    const auto a = backprop.compute(alone);
    EXPECT_EQ(r.chunk_stats[std::size_t(j)].steps, a.stats.steps);
    // The chunk's scale is the whole batch's: 1/6 of the sample's own.
    EXPECT_LE(relative_error(Batch<double>(r.grad_y0.col(j)), Batch<double>(a.grad_y0 / 6.0)),
              1e-14);
    loss_sum += a.loss / 6.0;
  }
  EXPECT_NEAR(r.loss, loss_sum, 1e-14 * loss_sum);
  EXPECT_EQ(r.stats.spread.chunks, 6);
  EXPECT_LT(r.stats.spread.min_steps, r.stats.spread.max_steps);  // the samples differ
  EXPECT_LE(r.stats.spread.min_steps, r.stats.spread.median_steps);
  // Per-sample steps take fewer steps in total than the whole batch sharing the smallest.
  const auto shared = backprop.compute(p);
  EXPECT_LT(r.stats.steps, 6 * shared.stats.steps);
}

/// The exactness property over per-sample steps: every gradient method against direct
/// backprop through the same per-sample discretisation.
TEST(ParallelGradient, PerSampleEveryMethodMatchesBackprop) {
  const Case c(5);
  const MseZero<double> loss;
  const AdaptiveSteps control{.rtol = 1e-6, .atol = 1e-8};
  SaveAt dense = SaveAt::linspace(0, 2, 5);
  dense.dense = true;
  const std::vector<std::pair<std::string, SaveAt>> saves{{"final", SaveAt::final_time(2.0)},
                                                          {"split", SaveAt::linspace(0, 2, 5)},
                                                          {"dense", dense},
                                                          {"every-step", SaveAt::every_step()}};
  Executor pool(2);
  for (const std::string solver :
       {"dopri5", "bosh3", "reversible:dopri5", "reversible-heun", "alf"}) {
    const auto stepper = make_stepper<double>(solver);
    const bool reversible = solver.starts_with("reversible") || solver == "alf";
    std::vector<std::string> methods{"anode", "checkpoint:2"};
    if (reversible)
      methods.push_back("reversible");
    else
      methods.push_back("symplectic");
    for (const auto& [save_name, save] : saves) {
      const GradientProblem<double> p{c.field, *stepper, control, save, 0.0,
                                      2.0,     c.y0,     c.theta, loss};
      const auto reference =
          parallel_gradient(DirectBackprop<double>(), p, pool, {.per_sample_steps = true});
      for (const std::string& spec : methods) {
        SCOPED_TRACE(fmt::format("{} {} {}", solver, save_name, spec));
        const auto r = parallel_gradient(*make_gradient_method<double>(spec), p, pool,
                                         {.per_sample_steps = true});
        EXPECT_EQ(r.stats.steps, reference.stats.steps);
        EXPECT_NEAR(r.loss, reference.loss, 1e-13 * reference.loss);
        EXPECT_LE(relative_error(r.grad_params, reference.grad_params), 1e-10);
        EXPECT_LE(relative_error(r.grad_y0, reference.grad_y0), 1e-10);
      }
    }
  }
  // The continuous adjoint is not exact (its own backward solve), but runs per sample too.
  const auto stepper = make_stepper<double>("dopri5");
  const GradientProblem<double> p{c.field,
                                  *stepper,
                                  AdaptiveSteps{.rtol = 1e-9, .atol = 1e-11},
                                  SaveAt::final_time(2.0),
                                  0.0,
                                  2.0,
                                  c.y0,
                                  c.theta,
                                  loss};
  const auto reference =
      parallel_gradient(DirectBackprop<double>(), p, pool, {.per_sample_steps = true});
  const auto adjoint = parallel_gradient(*make_gradient_method<double>("adjoint"), p, pool,
                                         {.per_sample_steps = true});
  EXPECT_LE(relative_error(adjoint.grad_params, reference.grad_params), 1e-5);
}

TEST(ParallelGradient, LossesSplitIntoColumnsAddUp) {
  const Batch<double> y = Batch<double>::Random(3, 7);
  const std::vector<Batch<double>> per_sample{Batch<double>::Random(3, 7)};
  const std::vector<Batch<double>> broadcast{Batch<double>::Random(3, 1)};
  const MseData<double> a(per_sample), b(broadcast);
  const CotangentLoss<double> cot(per_sample);
  const MseZero<double> zero;
  for (const Loss<double>* loss : std::vector<const Loss<double>*>{&a, &b, &cot, &zero}) {
    Batch<double> whole_bar(3, 7), bar(3, 7);
    const double whole = loss->term(0, 0.0, y, whole_bar);
    double parts = 0;
    for (const auto& [first, count] : {std::pair<Index, Index>{0, 3}, {3, 4}}) {
      const ColumnSlice<double> slice(*loss, first, count, 7);
      EXPECT_EQ(slice.scale(2, 3, count), loss->scale(2, 3, 7));
      parts += slice.term(0, 0.0, y.middleCols(first, count), bar.middleCols(first, count));
    }
    EXPECT_NEAR(parts, whole, 1e-14 * std::abs(whole));
    EXPECT_EQ(bar, whole_bar);
  }
  const CallbackLoss<double> callback(
      [](Index, double, const ConstBatchRef<double>& v, BatchRef<double> v_bar) {
        v_bar = v;
        return 0.5 * v.squaredNorm();
      });
  EXPECT_FALSE(callback.separable());
  const Case c(4);
  const auto stepper = make_stepper<double>("dopri5");
  const GradientProblem<double> p{
      c.field, *stepper, AdaptiveSteps{}, SaveAt::final_time(1.0), 0.0, 1.0,
      c.y0,    c.theta,  callback};
  Executor pool(2);
  const DirectBackprop<double> backprop;
  EXPECT_NE(error_of([&] {
              parallel_gradient(backprop, p, pool, {.per_sample_steps = true});
            }).find("sees the whole batch"),
            std::string::npos);
  // Shared steps with a callback loss: the field evaluations are split, the loss is not.
  const auto r = parallel_gradient(backprop, p, pool, {.chunk_columns = 1});
  EXPECT_LE(relative_error(r.grad_params, backprop.compute(p).grad_params), 1e-12);
  EXPECT_NE(error_of([&] {
              parallel_gradient(backprop, p, pool, {.chunk_columns = -1});
            }).find("chunk_columns is -1"),
            std::string::npos);
}

TEST(ParallelSolve, PerSampleSolutionsAreEachSampleAlone) {
  const Case c(5);
  const auto stepper = make_stepper<double>("dopri5");
  const AdaptiveSteps control{.rtol = 1e-7, .atol = 1e-9};
  Executor pool(3);
  const auto grid =
      parallel_solve<double>(c.field, *stepper, control, SaveAt::linspace(0, 2, 3), 0.0, 2.0, c.y0,
                             c.theta, pool, {.per_sample_steps = true});
  ASSERT_EQ(grid.ys.size(), 3u);
  const auto steps = parallel_solve<double>(c.field, *stepper, control, SaveAt::every_step(), 0.0,
                                            2.0, c.y0, c.theta, pool, {.per_sample_steps = true});
  ASSERT_EQ(steps.chunks.size(), 5u);  // each sample its own step times
  for (Index j = 0; j < 5; ++j) {
    const auto alone = solve<double>(c.field, *stepper, control, SaveAt::linspace(0, 2, 3), 0.0,
                                     2.0, c.y0.col(j), c.theta);
    EXPECT_EQ(grid.ys[2].col(j), alone.ys[2]);
    EXPECT_EQ(Index(steps.chunks[std::size_t(j)].ts.size()),
              steps.chunk_stats[std::size_t(j)].steps + 1);
  }
  // Shared steps: the field split over threads, the same steps as one thread.
  const auto shared = parallel_solve<double>(c.field, *stepper, control, SaveAt::final_time(2.0),
                                             0.0, 2.0, c.y0, c.theta, pool, {.chunk_columns = 2});
  const auto plain =
      solve<double>(c.field, *stepper, control, SaveAt::final_time(2.0), 0.0, 2.0, c.y0, c.theta);
  EXPECT_EQ(shared.stats.steps, plain.stats.steps);
  EXPECT_LE(relative_error(shared.ys[0], plain.ys[0]), 1e-14);
}

}  // namespace
}  // namespace revode
