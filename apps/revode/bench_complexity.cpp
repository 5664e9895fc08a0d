/// `revode bench complexity`: time per gradient and peak memory of each gradient method
/// against the number of steps (midpoint, the white-dwarf-sized MLP [t, y] → 10 tanh → 2,
/// loss on the state at every step), like the published runtime-vs-steps figure. Each
/// measurement runs in a child process so its peak RSS is its own.
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "output_file.hpp"
#include "plotting.hpp"
#include "revode/core/error.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/core/text_parsing.hpp"

namespace revode::cli {
namespace {

struct ComplexityOptions {
  std::string methods = "backprop,anode,checkpoint:8,symplectic,adjoint,reversible";
  std::string steps = "100,300,1000,3000,10000";
  int repeats = 3;
  std::string csv = "complexity.csv", plot = "complexity.png";
};

struct Row {
  std::string method;
  long steps;
  double seconds;      ///< fastest of the repeats
  double peak_rss_mib; ///< of the child process
  long stored_floats;
  long nfe, nvjp;
};

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

/// The measurement itself (runs in the child).
Row measure(const std::string& method, long steps, int repeats) {
  Mlp<double> field(parse_mlp_spec("2,10,2", Activation::tanh, /*time_input=*/true));
  const Vector<double> theta = field.init_params(Init::pytorch_default, 0);
  const Batch<double> y0 = (Batch<double>(2, 1) << 1.0, 0.0).finished();
  // Reversible backprop runs McCallum–Foster over the same base, as the paper compares them.
  const auto stepper = make_stepper<double>(method == "reversible" ? "reversible:midpoint" : "midpoint");
  const auto gradient = make_gradient_method<double>(method);
  MseZero<double> loss;
  const GradientProblem<double> problem{field, *stepper, FixedSteps{steps}, SaveAt::every_step(),
                                        0.0, 5.0, y0, theta, loss};
  Row row{method, steps, 1e300, 0, 0, 0, 0};
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const auto result = gradient->compute(problem);
    row.seconds = std::min(row.seconds, seconds_since(start));
    row.stored_floats = long(result.stats.stored_floats);
    row.nfe = long(result.stats.nfe), row.nvjp = long(result.stats.nvjp);
  }
  row.peak_rss_mib = double(peak_rss_kib()) / 1024.0;
  return row;
}

/// Runs `measure` in a child process and reads its row back through a pipe.
Row measure_in_child(const std::string& method, long steps, int repeats) {
  int fd[2];
  require(pipe(fd) == 0, "bench complexity: cannot create a pipe");
  std::fflush(nullptr);
  const pid_t pid = fork();
  require(pid >= 0, "bench complexity: cannot fork");
  if (pid == 0) {
    close(fd[0]);
    nlohmann::json j;
    try {
      const Row r = measure(method, steps, repeats);
      j = {{"seconds", r.seconds}, {"rss", r.peak_rss_mib}, {"stored", r.stored_floats},
           {"nfe", r.nfe}, {"nvjp", r.nvjp}};
    } catch (const std::exception& e) {
      j = {{"error", e.what()}};
    }
    const std::string text = j.dump();
    ssize_t written = write(fd[1], text.data(), text.size());
    _exit(written == ssize_t(text.size()) ? 0 : 1);
  }
  close(fd[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = read(fd[0], buffer, sizeof buffer)) > 0;) text.append(buffer, size_t(n));
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  require(!text.empty(), "bench complexity: the measurement of {} at N = {} died", method, steps);
  const auto j = nlohmann::json::parse(text);
  if (j.contains("error")) throw Error(j["error"].get<std::string>());
  return {method, steps, j["seconds"], j["rss"], j["stored"], j["nfe"], j["nvjp"]};
}

void run_complexity(const ComplexityOptions& o) {
  require(o.repeats >= 1, "--repeats = {}; required: >= 1", o.repeats);
  std::vector<std::string> methods;
  for (auto field : split_fields(o.methods)) methods.emplace_back(field);
  require(!methods.empty(), "--methods '{}': expected comma-separated gradient methods", o.methods);
  std::vector<long> step_counts;
  for (auto field : split_fields(o.steps)) {
    const auto n = parse_count(field);
    require(n.has_value() && *n >= 1, "--steps entry '{}'; required: a positive integer", field);
    step_counts.push_back(long(*n));
  }
  require(!step_counts.empty(), "--steps '{}': expected comma-separated step counts", o.steps);
  for (const auto& m : methods) make_gradient_method<double>(m);  // fail before measuring
  if (!o.plot.empty()) require_writable_file("--plot", o.plot);
  OutputFile csv("--csv", o.csv);
  csv.write("method,steps,seconds,peak_rss_mib,stored_floats,nfe,nvjp\n");
  fmt::print("{:<14} {:>8} {:>12} {:>14} {:>14} {:>10}\n", "method", "steps", "ms/gradient",
             "peak RSS MiB", "stored_floats", "nfe");
  for (const auto& m : methods)
    for (long n : step_counts) {
      const Row r = measure_in_child(m, n, o.repeats);
      csv.write(fmt::format("{},{},{},{},{},{},{}\n", r.method, r.steps, r.seconds, r.peak_rss_mib,
                            r.stored_floats, r.nfe, r.nvjp));
      fmt::print("{:<14} {:>8} {:>12.3f} {:>14.1f} {:>14} {:>10}\n", r.method, r.steps,
                 1e3 * r.seconds, r.peak_rss_mib, r.stored_floats, r.nfe);
      std::fflush(stdout);
    }
  csv.close();
  if (!o.plot.empty()) run_plot_script("plot_complexity.py", {o.csv, o.plot});
}

}  // namespace

void add_bench_complexity_command(CLI::App& bench) {
  auto options = std::make_shared<ComplexityOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "complexity", "Time and peak memory per gradient method against the number of steps");
  cmd->add_option("--methods", options->methods, "Comma-separated gradient methods");
  cmd->add_option("--steps", options->steps, "Comma-separated numbers of midpoint steps");
  cmd->add_option("--repeats", options->repeats, "Gradients per measurement (the fastest counts)");
  cmd->add_option("--csv", options->csv, "CSV output");
  cmd->add_option("--plot", options->plot, "PNG output (empty: no plot)");
  cmd->callback([options] { run_complexity(*options); });
}

}  // namespace revode::cli
