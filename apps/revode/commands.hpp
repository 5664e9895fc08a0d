/// The subcommands of `revode`: each registers itself, its flags and its callback on the app.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>

namespace revode::cli {

/// `revode solve`: integrate and print the saved states.
void add_solve_command(CLI::App& app);

/// `revode grad`: the loss on the saved states and its gradient with respect to θ and y0.
void add_grad_command(CLI::App& app);

/// `revode stability`: the linear stability region of a solver (PNG and real interval).
void add_stability_command(CLI::App& app);

/// `revode bench complexity`: time and memory per gradient method against the number of steps.
void add_bench_complexity_command(CLI::App& bench);

/// `revode deq train`: a DEQ classifier trained with each DEQ gradient method, compared.
void add_deq_command(CLI::App& app);

/// `revode train`: fit a neural ODE to a dataset, with checkpoints and resume.
void add_train_command(CLI::App& app);

/// `revode bench paper`: reversible vs checkpointed training on the published experiments.
void add_bench_paper_command(CLI::App& bench);

/// `revode bench parallel`: batch-parallel gradients and per-sample steps (docs/parallel.md).
void add_bench_parallel_command(CLI::App& bench);

/// Wall time since `start`, in seconds (what the commands report as "seconds").
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace revode::cli
