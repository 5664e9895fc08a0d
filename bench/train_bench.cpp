// The white-dwarf training (`revode train --dataset white-dwarf`, its published settings:
// MLP [t, y] → 10 tanh → 2, reversible:midpoint, 1000 fixed steps on [0, 5], the loss at the
// 1000 data times by dense output) split into its phases: one training iteration, the
// gradient it computes, that gradient's forward half, and the same gradient with the saves at
// the step ends instead of dense saves at the data times (the shape of
// gradient/mlp[t,y]-10-2/...): the differences say what the loop and the dense saves cost
// (docs/performance.md, "Session 6: training loop").
#include <benchmark/benchmark.h>

#include "revode/gradients/registry.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/train/trainer.hpp"

namespace {

using namespace revode;

/// The gradient problem the Trainer builds for the white-dwarf dataset at θ₀.
struct WhiteDwarfProblem {
  explicit WhiteDwarfProblem(const std::string& method_spec, bool dense_saves = true)
      : dataset(make_dataset("white-dwarf")),
        settings(dataset.suggested),
        field(settings.model),
        stepper(make_stepper<double>(effective_solver(settings), {settings.coupling, 1.0})),
        method(make_gradient_method<double>(
            method_spec, {.policy = parse_guard_policy(settings.reversible_guard)})),
        theta(field.init_params(settings.init, settings.seed)),
        y0(dataset.trajectory(0).col(0)),
        data(std::size_t(dataset.points()), Batch<double>(dataset.dim(), 1)) {
    for (Index k = 0; k < dataset.points(); ++k)
      data[std::size_t(k)] = dataset.trajectory(0).col(k);
    data_loss = std::make_unique<MseData<double>>(data);
    if (dense_saves) {
      save_at.ts = dataset.times;
      save_at.dense = settings.dense;
    } else {
      save_at = SaveAt::every_step();
    }
  }
  GradientProblem<double> problem(bool dense_saves) const {
    const Loss<double>& loss = dense_saves ? static_cast<const Loss<double>&>(*data_loss) : zero;
    return {
        field, *stepper, settings.control, save_at, dataset.times.front(), dataset.times.back(), y0,
        theta, loss};
  }
  Dataset dataset;
  TrainSettings settings;
  Mlp<double> field;
  std::unique_ptr<Stepper<double>> stepper;
  std::unique_ptr<GradientMethod<double>> method;
  Vector<double> theta;
  Batch<double> y0;
  std::vector<Batch<double>> data;
  std::unique_ptr<MseData<double>> data_loss;
  MseZero<double> zero;
  SaveAt save_at;
};

void counters(benchmark::State& state, const SolveStats& stats) {
  state.counters["nfe"] = double(stats.nfe);
  state.counters["nvjp"] = double(stats.nvjp);
}

/// One Trainer::step (gradient, AdamW update, bookkeeping), one thread, as `revode train
/// --threads 1` runs it; θ moves on from iteration to iteration as in a run.
void train_step(benchmark::State& state) {
  Dataset dataset = make_dataset("white-dwarf");
  TrainSettings settings = dataset.suggested;
  settings.iterations = 1'000'000;  // step() is called past the published 1000
  Trainer trainer(std::move(dataset), std::move(settings), nullptr, /*threads=*/1);
  for (auto _ : state) benchmark::DoNotOptimize(trainer.step());
  counters(state, trainer.last_stats());
}
BENCHMARK(train_step)->Name("train/white-dwarf/reversible/step")->Unit(benchmark::kMillisecond);

/// The gradient of one iteration (at θ₀), forward and backward.
void train_gradient(benchmark::State& state, bool dense_saves) {
  const WhiteDwarfProblem p("reversible", dense_saves);
  const GradientProblem<double> problem = p.problem(dense_saves);
  GradientResult<double> r;
  for (auto _ : state) {
    r = p.method->compute(problem);
    benchmark::DoNotOptimize(r.grad_params.data());
  }
  counters(state, r.stats);
}
BENCHMARK_CAPTURE(train_gradient, dense_saves, true)
    ->Name("train/white-dwarf/reversible/gradient")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(train_gradient, step_end_saves, false)
    ->Name("train/white-dwarf/reversible/gradient/saves-at-step-ends")
    ->Unit(benchmark::kMillisecond);

/// The gradient's forward half alone (the solve with its dense saves and the loss value).
void train_forward(benchmark::State& state) {
  const WhiteDwarfProblem p("reversible");
  const GradientProblem<double> problem = p.problem(true);
  for (auto _ : state) benchmark::DoNotOptimize(p.method->forward(problem)->loss);
}
BENCHMARK(train_forward)
    ->Name("train/white-dwarf/reversible/gradient/forward")
    ->Unit(benchmark::kMillisecond);

}  // namespace
