/// The subcommands of `revode`: each registers itself, its flags and its callback on the app.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>

namespace revode::cli {

/// `revode solve`: integrate and print the saved states.
void add_solve_command(CLI::App& app);

/// `revode grad`: the loss on the saved states and its gradient with respect to θ and y0.
void add_grad_command(CLI::App& app);

/// Wall time since `start`, in seconds (what the commands report as "seconds").
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace revode::cli
