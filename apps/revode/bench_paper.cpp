/// `revode bench paper`: the published comparison (ALGORITHMS.md §6) of training with the
/// reversible solver against checkpointing with C slots, per experiment: best loss, training
/// time and memory (effective checkpoints as the paper counts them, the gradient method's
/// stored floats, peak RSS). Checkpointing runs the plain base solver (e.g. midpoint) and
/// reversible runs McCallum–Foster over it, as in the paper. Each run is a child process, so
/// its peak RSS is its own.
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "plotting.hpp"
#include "revode/core/error.hpp"
#include "revode/train/trainer.hpp"

namespace revode::cli {
namespace {

struct PaperOptions {
  std::string experiment = "all";
  int repeats = 1;
  Index iterations = 0;  // 0: the published count
  std::string out = "paper-bench";
};

/// The published comparison: checkpoint counts C and the published minutes (NaN: not given).
struct Experiment {
  std::string dataset;
  std::vector<Index> checkpoints;
  double reversible_minutes;
  std::vector<double> checkpoint_minutes;
};

const std::vector<Experiment>& experiments() {
  static const std::vector<Experiment> list{
      {"white-dwarf", {2, 4, 8, 16, 32, 44}, 1.7, {280, 30.3, 10.6, 9.6, 8.7, 5.5}},
      {"oscillator", {2, 4, 8, 16, 31}, 14.3, {632, NAN, NAN, NAN, 36.6}},
      {"pendulum", {2, 4, 8, 16, 32}, 21.9, {818, 135, 82.8, 70.8, 62.4}},
  };
  return list;
}

struct Row {
  std::string experiment, method, solver;
  Index effective_checkpoints = 0;
  Index iterations = 0;
  double best_loss = 0, final_loss = 0, seconds = 0;  // seconds: median over the repeats
  Index stored_floats = 0;
  double peak_rss_mib = 0;
  double published_minutes = NAN;
};

/// Trains in a child process; returns its summary and sets `peak_rss_kib` from wait4.
nlohmann::json train_in_child(const Dataset& data, const TrainSettings& settings,
                              long& peak_rss_kib) {
  int fd[2];
  require(::pipe(fd) == 0, "bench paper: cannot create a pipe");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  require(pid >= 0, "bench paper: cannot fork");
  if (pid == 0) {
    ::close(fd[0]);
    nlohmann::json j;
    try {
      Trainer trainer(data, settings);
      const auto start = std::chrono::steady_clock::now();
      trainer.run();
      j = {{"seconds", seconds_since(start)},
           {"best_loss", trainer.best_loss()},
           {"final_loss", trainer.losses().back()},
           {"stored_floats", trainer.last_stats().stored_floats}};
    } catch (const std::exception& e) {
      j = {{"error", e.what()}};
    }
    const std::string text = j.dump();
    const ssize_t written = ::write(fd[1], text.data(), text.size());
    ::_exit(written == ssize_t(text.size()) ? 0 : 1);
  }
  ::close(fd[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd[0], buffer, sizeof buffer)) > 0;) text.append(buffer, size_t(n));
  ::close(fd[0]);
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  peak_rss_kib = usage.ru_maxrss;
  require(!text.empty(), "bench paper: the run of {} with {} died (status {})", settings.dataset,
          settings.method, status);
  nlohmann::json j = nlohmann::json::parse(text);
  if (j.contains("error"))
    throw Error(fmt::format("bench paper: {} with {}: {}", settings.dataset, settings.method,
                            j["error"].get<std::string>()));
  return j;
}

Row measure(const Dataset& data, TrainSettings s, const std::string& method, Index effective,
            double published, int repeats) {
  s.method = method;
  Row row{data.name, method, effective_solver(s), effective, s.iterations};
  row.published_minutes = published;
  std::vector<double> seconds;
  for (int r = 0; r < repeats; ++r) {
    long rss = 0;
    const nlohmann::json j = train_in_child(data, s, rss);
    seconds.push_back(j["seconds"].get<double>());
    row.best_loss = j["best_loss"].get<double>();
    row.final_loss = j["final_loss"].get<double>();
    row.stored_floats = j["stored_floats"].get<Index>();
    row.peak_rss_mib = std::max(row.peak_rss_mib, double(rss) / 1024.0);
  }
  std::sort(seconds.begin(), seconds.end());
  row.seconds = seconds[seconds.size() / 2];
  return row;
}

std::string published_text(double minutes) {
  return std::isnan(minutes) ? "—" : fmt::format("{} min", minutes);
}

void write_outputs(const std::vector<Row>& rows, const PaperOptions& o) {
  std::filesystem::create_directories(o.out);
  const std::string csv_path = o.out + "/paper.csv", md_path = o.out + "/paper.md";
  std::ofstream csv(csv_path), md(md_path);
  require(csv.good() && md.good(), "bench paper: cannot write into '{}'", o.out);
  csv << "experiment,method,solver,effective_checkpoints,iterations,best_loss,final_loss,"
         "seconds,stored_floats,peak_rss_mib,published_minutes\n";
  md << "| experiment | method | solver | effective checkpoints | iterations | best loss | "
        "final loss | seconds | × reversible | stored floats | peak RSS (MiB) | published |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  double reversible_seconds = NAN;
  for (const Row& r : rows) {
    if (r.method == "reversible") reversible_seconds = r.seconds;
    csv << fmt::format("{},{},{},{},{},{},{},{},{},{},{}\n", r.experiment, r.method, r.solver,
                       r.effective_checkpoints, r.iterations, r.best_loss, r.final_loss,
                       r.seconds, r.stored_floats, r.peak_rss_mib,
                       std::isnan(r.published_minutes) ? "" : fmt::format("{}", r.published_minutes));
    md << fmt::format("| {} | {} | {} | {} | {} | {:.3e} | {:.3e} | {:.3f} | {:.2f} | {} | {:.1f} | "
                      "{} |\n",
                      r.experiment, r.method, r.solver, r.effective_checkpoints, r.iterations,
                      r.best_loss, r.final_loss, r.seconds, r.seconds / reversible_seconds,
                      r.stored_floats, r.peak_rss_mib, published_text(r.published_minutes));
  }
  md << "\nEffective checkpoints as the paper counts them (reversible: 2, the states Y and Z); "
        "'published' is the whole training in the paper, on its machine.\n";
  csv.close();  // the plot script reads it
  md.close();
  std::ifstream back(md_path);
  fmt::print("\n{}", std::string(std::istreambuf_iterator<char>(back), {}));
  fmt::print("written: {}, {}\n", md_path, csv_path);
  run_plot_script("plot_paper.py", {csv_path, o.out + "/paper.png"});
}

void run_paper(const PaperOptions& o) {
  require(o.repeats >= 1, "--repeats {}; required: >= 1", o.repeats);
  require(o.iterations >= 0, "--iterations {}; required: >= 1 (or 0 for the published count)",
          o.iterations);
  std::vector<Row> rows;
  bool found = false;
  for (const Experiment& e : experiments()) {
    if (o.experiment != "all" && o.experiment != e.dataset) continue;
    found = true;
    const Dataset data = make_dataset(e.dataset);
    TrainSettings s = data.suggested;
    if (o.iterations > 0) s.iterations = o.iterations;
    fmt::print("{}: {} iterations per run, {} run(s) each\n", e.dataset, s.iterations, o.repeats);
    std::fflush(stdout);
    const auto report = [&](const Row& r) {
      rows.push_back(r);
      fmt::print("  {:<14} {:<22} best loss {:.3e}  {:8.3f} s  stored {:>8}  RSS {:.1f} MiB\n",
                 r.method, r.solver, r.best_loss, r.seconds, r.stored_floats, r.peak_rss_mib);
      std::fflush(stdout);
    };
    report(measure(data, s, "reversible", 2, e.reversible_minutes, o.repeats));
    for (std::size_t i = 0; i < e.checkpoints.size(); ++i)
      report(measure(data, s, fmt::format("checkpoint:{}", e.checkpoints[i]), e.checkpoints[i],
                     e.checkpoint_minutes[i], o.repeats));
  }
  require(found, "--experiment '{}': expected white-dwarf, oscillator, pendulum or all",
          o.experiment);
  write_outputs(rows, o);
}

}  // namespace

void add_bench_paper_command(CLI::App& bench) {
  auto o = std::make_shared<PaperOptions>();
  CLI::App* c = bench.add_subcommand(
      "paper", "Reversible vs checkpointed training on the published experiments (§6)");
  c->add_option("--experiment", o->experiment, "white-dwarf, oscillator, pendulum or all")
      ->capture_default_str();
  c->add_option("--repeats", o->repeats, "runs per configuration (the median time counts)")
      ->capture_default_str();
  c->add_option("--iterations", o->iterations,
                "training iterations per run (default: the published 1000 / 10,000)");
  c->add_option("--out", o->out, "folder for paper.md, paper.csv and paper.png")
      ->capture_default_str();
  c->callback([o] { run_paper(*o); });
}

}  // namespace revode::cli
