/// `revode solve`: builds the problem from the shared flags, integrates it once and prints the
/// saved times and states as a table or as JSON.
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "commands.hpp"
#include "json_output.hpp"
#include "problem_options.hpp"
#include "revode/parallel/parallel_gradient.hpp"

namespace revode::cli {
namespace {

constexpr Index max_table_columns = 8;  // beyond this the table would wrap on a terminal
constexpr std::size_t max_table_rows = 20;

void print_header(Index dim, Index batch) {
  std::string header = fmt::format("{:>12}", "t");
  for (Index c = 0; c < std::min(dim * batch, max_table_columns); ++c)
    header += batch == 1 ? fmt::format(" {:>12}", fmt::format("y[{}]", c))
                         : fmt::format(" {:>12}", fmt::format("y{}[{}]", c / dim, c % dim));
  if (dim * batch > max_table_columns) header += "  …";
  fmt::print("{}\n", header);
}

template <class T>
void print_row(double t, const Batch<T>& y) {
  std::string row = fmt::format("{:>12.6g}", t);
  for (Index c = 0; c < std::min(y.size(), max_table_columns); ++c)
    row += fmt::format(" {:>12.6g}", double(y.data()[c]));  // column-major: sample by sample
  fmt::print("{}\n", row);
}

/// The saved states as a table; long solutions show their first and last rows.
template <class T>
void print_solution(const Problem<T>& p, const Solution<T>& s, double seconds) {
  fmt::print("{} with {} ({}), t = {} … {}, batch {}\n", p.field->name(), p.stepper->name(),
             dtype_name<T>(), p.t0, p.t1, p.y0.cols());
  print_header(p.field->state_dim(), p.y0.cols());
  const std::size_t n = s.ts.size(), half = max_table_rows / 2;
  for (std::size_t k = 0; k < n; ++k) {
    if (n > max_table_rows && k == half)
      fmt::print("{:>12}\n", fmt::format("({} more)", n - 2 * half));
    if (n > max_table_rows && k >= half && k < n - half) continue;
    print_row<T>(s.ts[k], s.ys[k]);
  }
  fmt::print("stats: {}\nseconds: {:.6f}\n", s.stats.brief(), seconds);
}

template <class T>
int run_solve(const ProblemOptions& options) {
  const Problem<T> p = build_problem<T>(options);
  Executor executor(options.threads);
  const auto start = std::chrono::steady_clock::now();
  ParallelSolution<T> parallel =
      parallel_solve<T>(*p.field, *p.stepper, p.control, p.save_at, p.t0, p.t1, p.y0, p.theta,
                        executor, {.per_sample_steps = options.per_sample_steps});
  require(parallel.chunks.empty(),
          "--per-sample-steps with --saveat steps: every sample saves at its own step times, "
          "which one table cannot hold; use --saveat K or T1,T2,... (or revode grad)");
  const Solution<T> solution{std::move(parallel.ts), std::move(parallel.ys), parallel.stats};
  const double seconds = seconds_since(start);
  if (options.json)
    fmt::print("{}\n", solve_json(p, solution, seconds).dump());
  else
    print_solution(p, solution, seconds);
  return 0;
}

}  // namespace

void add_solve_command(CLI::App& app) {
  // Shared with the callback, which runs after parsing, when `app` is still alive.
  auto options = std::make_shared<ProblemOptions>();
  CLI::App* command = app.add_subcommand(
      "solve", "Integrate y' = f(t, y; θ) from t0 to t1 and print the saved states.");
  add_problem_options(*command, *options);
  command->callback([options] {
    dispatch_dtype(options->dtype, [&]<class T>() { return run_solve<T>(*options); });
  });
}

}  // namespace revode::cli
