/// `revode stability`: the linear stability region of any solver on y' = a y, as a PNG plot
/// and the real-axis interval as text (or JSON).
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.hpp"
#include "option_checks.hpp"
#include "output_file.hpp"
#include "plotting.hpp"
#include "revode/core/error.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/solvers/stability.hpp"

namespace revode::cli {
namespace {

struct StabilityOptions {
  std::string solver = "rk4";
  double coupling = 0.999, damping = 1.0;
  StabilityWindow window;
  std::string csv = "stability.csv", plot = "stability.png";
  bool json = false;
};

void run_stability(const StabilityOptions& o) {
  require_writable_file("--csv", o.csv);
  if (!o.plot.empty()) require_writable_file("--plot", o.plot);
  const auto stepper = make_stepper<double>(o.solver, SolverOptions{o.coupling, o.damping});
  RealInterval real = real_stability_interval(*stepper);
  // The bisection ends within its tolerance of the boundary; show a boundary at 0 as 0.
  for (double* end : {&real.lo, &real.hi})
    if (std::abs(*end) < 1e-8) *end = 0.0;
  const auto samples = sample_stability(*stepper, o.window);
  {
    std::ostringstream text;
    write_stability_csv(text, samples);
    write_output_file("--csv", o.csv, text.str());
  }
  const bool plotted = !o.plot.empty() &&
                       run_plot_script("plot_stability.py", {o.csv, o.plot, stepper->name()});
  if (o.json) {
    nlohmann::json j{{"solver", stepper->name()}, {"real_interval", {real.lo, real.hi}},
                     {"csv", o.csv}, {"plot", plotted ? o.plot : ""}};
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("solver {}: stable on the real axis for h·a in [{:.6g}, {:.6g}]\n", stepper->name(),
             real.lo, real.hi);
  fmt::print("region sampled on {}×{} points -> {}{}\n", o.window.re_points, o.window.im_points,
             o.csv, plotted ? ", plot " + o.plot : "");
}

}  // namespace

void add_stability_command(CLI::App& app) {
  auto options = std::make_shared<StabilityOptions>();
  CLI::App* cmd = app.add_subcommand(
      "stability", "Linear stability region of a solver on y' = a·y (a complex, step h = 1)");
  cmd->add_option("--solver", options->solver, "Solver name (see `revode solve --help`)");
  cmd->add_option("--coupling", options->coupling, "McCallum–Foster coupling λ in (0, 1]")
      ->check(unit_interval());
  cmd->add_option("--damping", options->damping, "Asynchronous-leapfrog damping η in (0, 1]")
      ->check(unit_interval());
  cmd->add_option("--re-min", options->window.re_min, "Window: smallest Re(h·a)");
  cmd->add_option("--re-max", options->window.re_max, "Window: largest Re(h·a)");
  cmd->add_option("--im-max", options->window.im_max, "Window: largest |Im(h·a)|");
  cmd->add_option("--csv", options->csv, "Where to write the sampled region");
  cmd->add_option("--plot", options->plot, "PNG plot of the region (empty: no plot)");
  cmd->add_flag("--json", options->json, "Print one JSON object");
  cmd->callback([options] {
    options->window.im_min = -options->window.im_max;
    run_stability(*options);
  });
}

}  // namespace revode::cli
