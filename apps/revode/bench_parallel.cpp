/// `revode bench parallel` (docs/parallel.md): the two benchmarks of batch parallelism.
/// 1. The reference gradient (MLP 2→64→64→2 tanh, float64, midpoint steps on [0, 10], loss at
///    every step) at a batch on 1, 2, … threads, for backprop and reversible backprop.
/// 2. Per-sample against shared step sizes on a batch of Van der Pol oscillators whose μ spreads
///    over [0.1, 10]: total evaluations and time, for dopri5 and reversible:dopri5.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>

#include "commands.hpp"
#include "revode/core/error.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/parallel/parallel_gradient.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/core/text_parsing.hpp"

namespace revode::cli {
namespace {

struct ParallelBenchOptions {
  Index batch = 256;
  Index steps = 1000;
  std::string threads = "1,2";
  int repeats = 5;
  Index stiff_batch = 32;
  double stiff_t1 = 10.0;
  double mu_max = 10.0;
  bool skip_reference = false;
  bool skip_per_sample = false;
  std::string methods = "backprop,reversible";
  /// McCallum–Foster λ of reversible:dopri5 here: with the default 0.999 its adaptive solve
  /// fails (step-size underflow) on Van der Pol from μ ≈ 2 on; 0.5 solves all of [0.1, 10].
  double coupling = 0.5;
};

double seconds_of(const auto& call) {
  const auto start = std::chrono::steady_clock::now();
  call();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// CPU seconds of the whole process (every thread) so far: with the wall time it shows how
/// much of a slow-down comes from other processes on the machine (CPU time stays) and how
/// much from the threads themselves (CPU time grows: stalls, contention).
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Van der Pol with its μ carried as a third, constant state component, so that every sample
/// of a batch has its own stiffness: (x, v, μ)' = (v, μ(1 − x²)v − x, 0). No parameters.
class VanDerPolSpread final : public VectorField<double> {
 public:
  Index state_dim() const override { return 3; }
  Index param_count() const override { return 0; }
  std::string name() const override { return "van-der-pol (μ per sample)"; }
  void eval(double, const ConstBatchRef<double>& y, const ConstVectorRef<double>&,
            BatchRef<double> dy) const override {
    for (Index j = 0; j < y.cols(); ++j) {
      const double x = y(0, j), v = y(1, j), mu = y(2, j);
      dy(0, j) = v;
      dy(1, j) = mu * (1 - x * x) * v - x;
      dy(2, j) = 0;
    }
  }
  void vjp(double, const ConstBatchRef<double>& y, const ConstVectorRef<double>&,
           const ConstBatchRef<double>& a, BatchRef<double> y_bar,
           VectorRef<double>) const override {
    for (Index j = 0; j < y.cols(); ++j) {
      const double x = y(0, j), v = y(1, j), mu = y(2, j), a0 = a(0, j), a1 = a(1, j);
      y_bar(0, j) = a1 * (-2 * mu * x * v - 1);
      y_bar(1, j) = a0 + a1 * mu * (1 - x * x);
      y_bar(2, j) = a1 * (1 - x * x) * v;
    }
  }
  std::unique_ptr<VectorField<double>> clone() const override {
    return std::make_unique<VanDerPolSpread>();
  }
};

void reference_gradient(const ParallelBenchOptions& o, const std::vector<Index>& thread_counts) {
  Mlp<double> field(parse_mlp_spec("2,64,64,2", Activation::tanh));
  const Vector<double> theta = field.init_params(Init::pytorch_default, 0);
  const Batch<double> y0 = Batch<double>::Random(2, o.batch);
  const MseZero<double> loss;
  fmt::print(
      "reference gradient: {} float64, {} midpoint steps on [0, 10], loss at every step, "
      "batch {}, median of {}\n",
      field.name(), o.steps, o.batch, o.repeats);
  fmt::print("{:<12} {:>8} {:>12} {:>10} {:>14}\n", "method", "threads", "ms/gradient", "speed-up",
             "cpu ms/grad");
  for (const auto method_field : split_fields(o.methods)) {
    const std::string method(method_field);
    require(method == "backprop" || method == "reversible",
            "--methods entry '{}'; expected backprop or reversible", method);
    const auto stepper =
        make_stepper<double>(method == "reversible" ? "reversible:midpoint" : "midpoint");
    const auto gradient = make_gradient_method<double>(method);
    const GradientProblem<double> p{
        field, *stepper, FixedSteps{o.steps}, SaveAt::every_step(), 0.0, 10.0, y0, theta, loss};
    double one = 0;
    for (const Index k : thread_counts) {
      Executor executor(k);
      std::vector<double> times, cpu;
      for (int r = 0; r < o.repeats; ++r) {
        const double cpu_start = process_cpu_seconds();
        times.push_back(seconds_of([&] { (void)parallel_gradient(*gradient, p, executor); }));
        cpu.push_back(process_cpu_seconds() - cpu_start);
      }
      const double t = median(times);
      if (one == 0) one = t;
      fmt::print("{:<12} {:>8} {:>12.1f} {:>9.2f}x {:>14.1f}\n", method, k, 1e3 * t, one / t,
                 1e3 * median(cpu));
      std::fflush(stdout);
    }
  }
}

void per_sample_steps(const ParallelBenchOptions& o, Index threads) {
  const VanDerPolSpread field;
  Batch<double> y0(3, o.stiff_batch);
  for (Index j = 0; j < o.stiff_batch; ++j) {
    // μ log-spaced over [0.1, μ_max].
    const double s = o.stiff_batch == 1 ? 0.0 : double(j) / double(o.stiff_batch - 1);
    y0.col(j) << 2.0, 0.0, 0.1 * std::pow(o.mu_max / 0.1, s);
  }
  const Vector<double> theta(0);
  const MseZero<double> loss;
  const AdaptiveSteps control{.rtol = 1e-6, .atol = 1e-8, .max_steps = 1000000};
  fmt::print(
      "\nper-sample vs shared steps: Van der Pol, μ log-spaced over [0.1, {}], batch {}, "
      "t = 0 … {}, rtol 1e-6, atol 1e-8, gradient of the final state's mean square, "
      "{} threads, McCallum–Foster λ = {}, median of {}\n",
      o.mu_max, o.stiff_batch, o.stiff_t1, threads, o.coupling, o.repeats);
  fmt::print("{:<18} {:<8} {:>10} {:>12} {:>10} {:>24} {:>10}\n", "solver", "steps", "total",
             "nfe (×batch)", "nvjp", "per-sample min/med/max", "ms");
  Executor executor(threads);
  for (const std::string solver : {"dopri5", "reversible:dopri5"}) {
    const auto stepper = make_stepper<double>(solver, {.coupling = o.coupling});
    const auto gradient =
        make_gradient_method<double>(solver == "dopri5" ? "backprop" : "reversible");
    const GradientProblem<double> p{
        field, *stepper, control, SaveAt::final_time(o.stiff_t1), 0.0, o.stiff_t1, y0, theta, loss};
    for (const bool per_sample : {false, true}) {
      GradientResult<double> r;
      std::vector<double> times;
      try {
        for (int rep = 0; rep < o.repeats; ++rep)
          times.push_back(seconds_of([&] {
            r = parallel_gradient(*gradient, p, executor, {.per_sample_steps = per_sample});
          }));
      } catch (const Error& e) {
        // A reversible solver can fail on the stiffest samples: report it, go on.
        fmt::print("{:<18} {:<8} failed: {}\n", solver, per_sample ? "sample" : "shared", e.what());
        continue;
      }
      // nfe counts batch calls; a shared-step call evaluates every sample.
      const Index sample_evals = per_sample ? r.stats.nfe : r.stats.nfe * o.stiff_batch;
      const std::string spread =
          per_sample ? fmt::format("{}/{}/{}", r.stats.spread.min_steps,
                                   r.stats.spread.median_steps, r.stats.spread.max_steps)
                     : std::string("-");
      fmt::print("{:<18} {:<8} {:>10} {:>12} {:>10} {:>24} {:>10.1f}\n", solver,
                 per_sample ? "sample" : "shared", r.stats.steps, sample_evals, r.stats.nvjp,
                 spread, 1e3 * median(times));
      std::fflush(stdout);
    }
  }
}

void run_parallel_bench(const ParallelBenchOptions& o) {
  require(o.batch >= 1 && o.steps >= 1 && o.repeats >= 1 && o.stiff_batch >= 1 && o.stiff_t1 > 0,
          "bench parallel: --batch, --steps, --repeats and --stiff-batch must be ≥ 1 and "
          "--stiff-t1 > 0");
  std::vector<Index> thread_counts;
  for (auto field : split_fields(o.threads)) {
    const auto n = parse_count(field);
    require(n.has_value() && *n >= 1, "--threads entry '{}'; required: a positive integer", field);
    thread_counts.push_back(Index(*n));
  }
  require(!thread_counts.empty(), "--threads '{}': expected comma-separated counts", o.threads);
  if (!o.skip_reference) reference_gradient(o, thread_counts);
  if (!o.skip_per_sample) per_sample_steps(o, thread_counts.back());
}

}  // namespace

void add_bench_parallel_command(CLI::App& bench) {
  auto options = std::make_shared<ParallelBenchOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "parallel", "Batch-parallel gradients on 1, 2, … threads; per-sample vs shared steps");
  cmd->add_option("--batch", options->batch, "batch of the reference gradient")
      ->capture_default_str();
  cmd->add_option("--steps", options->steps, "midpoint steps of the reference gradient")
      ->capture_default_str();
  cmd->add_option("--threads", options->threads, "comma-separated thread counts")
      ->capture_default_str();
  cmd->add_option("--repeats", options->repeats, "runs per measurement (the median counts)")
      ->capture_default_str();
  cmd->add_option("--stiff-batch", options->stiff_batch, "Van der Pol samples")
      ->capture_default_str();
  cmd->add_option("--stiff-t1", options->stiff_t1, "Van der Pol end time")->capture_default_str();
  cmd->add_option("--mu-max", options->mu_max, "largest Van der Pol μ (μ from 0.1)")
      ->capture_default_str();
  cmd->add_option("--coupling", options->coupling, "McCallum–Foster λ of reversible:dopri5")
      ->capture_default_str();
  cmd->add_flag("--skip-reference", options->skip_reference,
                "only the per-sample benchmark (its thread count: the last of --threads)");
  cmd->add_option("--methods", options->methods,
                  "comma-separated methods of the reference gradient (backprop, reversible)")
      ->capture_default_str();
  cmd->add_flag("--skip-per-sample", options->skip_per_sample, "only the reference gradient");
  cmd->callback([options] { run_parallel_bench(*options); });
}

}  // namespace revode::cli
