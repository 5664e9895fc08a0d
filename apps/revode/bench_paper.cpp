/// `revode bench paper`: the published comparison (ALGORITHMS.md §6) of training with the
/// reversible solver against checkpointing with C slots, per experiment: losses (mean ± std
/// over seeds) beside the published ones, training time and memory (effective checkpoints as the paper counts them, the gradient method's
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
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>
#include <utility>

#include "commands.hpp"
#include "output_file.hpp"
#include "plotting.hpp"
#include "revode/core/error.hpp"
#include "revode/train/trainer.hpp"

namespace revode::cli {
namespace {

struct PaperOptions {
  std::string experiment = "all";
  int repeats = 1;
  int seeds = 1;  // initial parameters from seeds 0 … seeds − 1
  Index iterations = 0;  // 0: the published count
  std::string out = "paper-bench";
};

/// The published comparison: checkpoint counts C, the published minutes (NaN: not given) and
/// the published losses (the paper's mean over a few seeds: final loss for the white dwarf and
/// the oscillator, best loss for the pendulum).
struct Experiment {
  std::string dataset;
  std::vector<Index> checkpoints;
  double reversible_minutes;
  std::vector<double> checkpoint_minutes;
  std::string reversible_loss, checkpoint_loss;
};

const std::vector<Experiment>& experiments() {
  static const std::vector<Experiment> list{
      {"white-dwarf", {2, 4, 8, 16, 32, 44}, 1.7, {280, 30.3, 10.6, 9.6, 8.7, 5.5}, "0.9e-4",
       "0.9e-4"},
      {"oscillator", {2, 4, 8, 16, 31}, 14.3, {632, NAN, NAN, NAN, 36.6}, "1.0e-3", "1.0e-3"},
      {"pendulum", {2, 4, 8, 16, 32}, 21.9, {818, 135, 82.8, 70.8, 62.4}, "8.3e-3",
       "7.8–12.8e-3"},
  };
  return list;
}

/// Mean and population standard deviation (the paper's ± convention).
std::pair<double, double> mean_and_std(const std::vector<double>& v) {
  double mean = 0, square = 0;
  for (const double x : v) mean += x / double(v.size());
  for (const double x : v) square += (x - mean) * (x - mean) / double(v.size());
  return {mean, std::sqrt(square)};
}

struct Row {
  std::string experiment, method, solver;
  Index effective_checkpoints = 0;
  Index iterations = 0;
  int seeds = 1;
  // Losses: mean and population standard deviation over the seeds. Seconds: median over
  // seeds × repeats.
  double best_loss = 0, best_loss_std = 0, final_loss = 0, final_loss_std = 0, seconds = 0;
  Index stored_floats = 0;
  double peak_rss_mib = 0;
  double published_minutes = NAN;
  std::string published_loss;
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
            const PaperOptions& o) {
  s.method = method;
  Row row;
  row.experiment = data.name;
  row.method = method;
  row.solver = effective_solver(s);
  row.effective_checkpoints = effective;
  row.iterations = s.iterations;
  row.seeds = o.seeds;
  std::vector<double> seconds, best, final;
  for (int seed = 0; seed < o.seeds; ++seed) {
    s.seed = std::uint64_t(seed);
    for (int r = 0; r < o.repeats; ++r) {
      long rss = 0;
      const nlohmann::json j = train_in_child(data, s, rss);
      seconds.push_back(j["seconds"].get<double>());
      if (r == 0) {  // repeats of a seed give the same losses, bit for bit
        best.push_back(j["best_loss"].get<double>());
        final.push_back(j["final_loss"].get<double>());
      }
      row.stored_floats = std::max(row.stored_floats, j["stored_floats"].get<Index>());
      row.peak_rss_mib = std::max(row.peak_rss_mib, double(rss) / 1024.0);
    }
  }
  std::tie(row.best_loss, row.best_loss_std) = mean_and_std(best);
  std::tie(row.final_loss, row.final_loss_std) = mean_and_std(final);
  std::sort(seconds.begin(), seconds.end());
  const std::size_t middle = seconds.size() / 2;
  row.seconds = seconds.size() % 2 == 1 ? seconds[middle]
                                        : (seconds[middle - 1] + seconds[middle]) / 2;
  return row;
}

/// "1.234e-04", or "1.234e-04 ± 5.6e-05" over several seeds.
std::string loss_text(double mean, double std, int seeds) {
  return seeds > 1 ? fmt::format("{:.3e} ± {:.1e}", mean, std) : fmt::format("{:.3e}", mean);
}

std::string published_text(double minutes) {
  return std::isnan(minutes) ? "—" : fmt::format("{} min", minutes);
}

void write_outputs(const std::vector<Row>& rows, const PaperOptions& o) {
  const std::string csv_path = o.out + "/paper.csv", md_path = o.out + "/paper.md";
  // Rendered in memory, then written by write_output_file, which checks every call.
  std::ostringstream csv, md;
  csv << "experiment,method,solver,effective_checkpoints,iterations,seeds,best_loss,best_loss_std,"
         "final_loss,final_loss_std,seconds,stored_floats,peak_rss_mib,published_minutes,"
         "published_loss\n";
  md << "| experiment | method | solver | effective checkpoints | iterations | seeds | best loss | "
        "final loss | seconds | × reversible | stored floats | peak RSS (MiB) | published time | "
        "published loss |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  double reversible_seconds = NAN;
  for (const Row& r : rows) {
    if (r.method == "reversible") reversible_seconds = r.seconds;
    csv << fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.experiment, r.method,
                       r.solver, r.effective_checkpoints, r.iterations, r.seeds, r.best_loss,
                       r.best_loss_std, r.final_loss, r.final_loss_std, r.seconds,
                       r.stored_floats, r.peak_rss_mib,
                       std::isnan(r.published_minutes) ? "" : fmt::format("{}", r.published_minutes),
                       r.published_loss);
    md << fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {:.3f} | {:.2f} | {} | {:.1f} | "
                      "{} | {} |\n",
                      r.experiment, r.method, r.solver, r.effective_checkpoints, r.iterations,
                      r.seeds, loss_text(r.best_loss, r.best_loss_std, r.seeds),
                      loss_text(r.final_loss, r.final_loss_std, r.seeds), r.seconds,
                      r.seconds / reversible_seconds, r.stored_floats, r.peak_rss_mib,
                      published_text(r.published_minutes), r.published_loss);
  }
  md << "\nLosses: mean ± population standard deviation over the seeds (initial parameters); "
        "seconds: the median run. Effective checkpoints as the paper counts them (reversible: 2, "
        "the states Y and Z); 'published' is the paper's whole training on its machine and its "
        "loss (final loss for the white dwarf and the oscillator, best loss for the pendulum).\n";
  write_output_file("--out", csv_path, csv.str());  // the plot script reads it
  write_output_file("--out", md_path, md.str());
  fmt::print("\n{}", md.str());
  fmt::print("written: {}, {}\n", md_path, csv_path);
  run_plot_script("plot_paper.py", {csv_path, o.out + "/paper.png"});
}

void run_paper(const PaperOptions& o) {
  require(o.repeats >= 1, "--repeats {}; required: >= 1", o.repeats);
  require(o.seeds >= 1, "--seeds {}; required: >= 1", o.seeds);
  require(o.iterations >= 0, "--iterations {}; required: >= 1 (or 0 for the published count)",
          o.iterations);
  require_writable_folder("--out", o.out);  // now, not after hours of training
  std::vector<Row> rows;
  bool found = false;
  for (const Experiment& e : experiments()) {
    if (o.experiment != "all" && o.experiment != e.dataset) continue;
    found = true;
    const Dataset data = make_dataset(e.dataset);
    TrainSettings s = data.suggested;
    if (o.iterations > 0) s.iterations = o.iterations;
    fmt::print("{}: {} iterations per run, seeds 0…{}, {} run(s) each\n", e.dataset, s.iterations,
               o.seeds - 1, o.repeats);
    std::fflush(stdout);
    const auto report = [&](const Row& r) {
      rows.push_back(r);
      fmt::print("  {:<14} {:<22} final loss {:<20} {:8.3f} s  stored {:>8}  RSS {:.1f} MiB\n",
                 r.method, r.solver, loss_text(r.final_loss, r.final_loss_std, r.seeds), r.seconds,
                 r.stored_floats, r.peak_rss_mib);
      std::fflush(stdout);
    };
    Row reversible = measure(data, s, "reversible", 2, o);
    reversible.published_minutes = e.reversible_minutes;
    reversible.published_loss = e.reversible_loss;
    report(reversible);
    for (std::size_t i = 0; i < e.checkpoints.size(); ++i) {
      Row r = measure(data, s, fmt::format("checkpoint:{}", e.checkpoints[i]), e.checkpoints[i], o);
      r.published_minutes = e.checkpoint_minutes[i];
      r.published_loss = e.checkpoint_loss;
      report(r);
    }
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
  c->add_option("--repeats", o->repeats, "runs per configuration and seed (the median time counts)")
      ->capture_default_str();
  c->add_option("--seeds", o->seeds,
                "train from the initial parameters of seeds 0…K-1; losses are reported as mean ± "
                "std (the paper used 3 seeds for the white dwarf, 6 and 5 for the others)")
      ->capture_default_str();
  c->add_option("--iterations", o->iterations,
                "training iterations per run (default: the published 1000 / 10,000)");
  c->add_option("--out", o->out, "folder for paper.md, paper.csv and paper.png")
      ->capture_default_str();
  c->callback([o] { run_paper(*o); });
}

}  // namespace revode::cli
