/// `revode train`: fits a neural ODE to a dataset (the published white-dwarf, oscillator and
/// pendulum experiments, or a CSV file) with any gradient method; settings come from the
/// dataset's defaults, then --config, then the flags; checkpoints make a run resumable.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.hpp"
#include "json_output.hpp"
#include "output_file.hpp"
#include "plotting.hpp"
#include "revode/cde/cde_spec.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/train/atomic_file.hpp"
#include "revode/train/cde_train_field.hpp"
#include "revode/train/checkpoint.hpp"
#include "revode/train/params_file.hpp"
#include "torch_plugin.hpp"
#include "train_progress.hpp"
#include "train_ranks.hpp"

namespace revode::cli {
namespace {

struct TrainOptions {
  std::string dataset, config, resume, checkpoint, output, plot;
  Index checkpoint_every = 100;
  Index log_every = 0;
  bool json = false;
  Index threads = 0;  // not a setting: the numbers are the same for every count
  /// The setting flags given, as {"key": value} in the order given (keys as in config files).
  nlohmann::ordered_json flags = nlohmann::ordered_json::object();
};

/// Registers `--name` for setting `key`: its value is kept as JSON and applied like a config
/// key, so flags, config files and checkpoints share one reader and one set of checks.
template <class T>
void setting_flag(CLI::App& c, TrainOptions& o, const std::string& name, const char* key,
                  const std::string& help) {
  c.add_option_function<T>(
      name, [&o, key](const T& v) { o.flags[key] = v; }, help);
}

void add_setting_flags(CLI::App& c, TrainOptions& o) {
  setting_flag<std::string>(c, o, "--field", "field",
                            "the model: torchscript:PATH (a TorchScript module forward(t, y), "
                            "θ its parameters; docs/torch-field.md) or "
                            "cde:FILE[,hidden=H,widths=W1xW2,...] (a neural CDE over a file of "
                            "observations, one sample per trajectory; θ = its network; "
                            "docs/training.md) instead of the MLP of --widths");
  c.add_option_function<std::string>(
      "--widths", [&o](const std::string& w) { o.flags["widths"] = parse_mlp_spec(w).widths; },
      "MLP layer widths W0,W1,...,W0 (W0 = the data's state dimension)");
  setting_flag<std::string>(c, o, "--activation", "activation", "MLP hidden activation");
  setting_flag<bool>(c, o, "--time-input", "time_input", "MLP takes [t; y] (true/false)");
  setting_flag<std::string>(c, o, "--init", "init", "MLP initialiser: pytorch or glorot");
  setting_flag<std::string>(c, o, "--solver", "solver",
                            "solver; with --method reversible a plain tableau such as midpoint "
                            "means reversible:<tableau>");
  setting_flag<double>(c, o, "--coupling", "coupling", "McCallum–Foster coupling λ");
  setting_flag<Index>(c, o, "--steps", "steps", "number of fixed steps over the data's span");
  setting_flag<double>(c, o, "--dt", "dt", "fixed step size");
  setting_flag<double>(c, o, "--rtol", "rtol", "adaptive steps: relative tolerance");
  setting_flag<double>(c, o, "--atol", "atol", "adaptive steps: absolute tolerance");
  setting_flag<Index>(c, o, "--max-steps", "max_steps", "adaptive steps: most steps per solve");
  setting_flag<bool>(c, o, "--dense", "dense",
                     "reach data times inside a step by dense output (true/false)");
  setting_flag<std::string>(
      c, o, "--method", "method",
      fmt::format("gradient method: {}", fmt::join(gradient_method_names(), ", ")));
  setting_flag<std::string>(c, o, "--reversible-guard", "reversible_guard",
                            "method reversible: repair, error or warn when the backward "
                            "reconstruction drifts (README, the reconstruction guard)");
  setting_flag<std::string>(c, o, "--optimizer", "optimizer", "adam or adamw");
  setting_flag<double>(c, o, "--lr", "lr", "learning rate");
  setting_flag<double>(c, o, "--weight-decay", "weight_decay",
                       "weight decay (decoupled for adamw, L2 for adam)");
  setting_flag<double>(c, o, "--beta1", "beta1", "Adam β1");
  setting_flag<double>(c, o, "--beta2", "beta2", "Adam β2");
  setting_flag<double>(c, o, "--eps", "eps", "Adam ε");
  setting_flag<double>(c, o, "--clip", "clip", "clip the gradient to this global norm");
  setting_flag<std::string>(c, o, "--schedule", "schedule", "learning rate: constant or cosine");
  setting_flag<double>(c, o, "--final-lr", "final_lr", "cosine schedule: the last rate");
  setting_flag<Index>(c, o, "--iterations", "iterations", "training iterations");
  setting_flag<Index>(c, o, "--batch-size", "batch_size",
                      "trajectories per iteration, drawn from the seed (0: all of them)");
  setting_flag<Index>(c, o, "--batch-chunks", "batch_chunks",
                      "solve a batch as C chunks, added in chunk order; MPI ranks take whole "
                      "chunks (C >= ranks), and a run gives the same bits on any rank count");
  setting_flag<std::uint64_t>(c, o, "--seed", "seed", "seed of the initial parameters");
  // SDEs (docs/training.md "SDEs"): the MLP becomes the drift; θ = [θ_f; θ_g] is trained.
  setting_flag<std::string>(c, o, "--diffusion", "diffusion",
                            "train the SDE dy = MLP dt + g ∘ dW: const:V,..., linear:V,... or "
                            "mlp:d,H,...,K (as on solve; docs/sde.md)");
  setting_flag<std::string>(c, o, "--noise", "noise",
                            "SDE noise type: diagonal (default), scalar, additive or general");
  setting_flag<std::int64_t>(c, o, "--brownian-seed", "brownian_seed",
                             "SDE: seed of the Brownian samples, 0 … 2^63 - 1 (iteration i "
                             "draws a fresh one from (S, i))");
}

constexpr std::string_view torchscript_prefix = "torchscript:";

/// The model of settings.field, loaded here because the core trainer builds only MLPs: a
/// TorchScript module through the torch plugin (torch_plugin.hpp), θ its own parameters, or a
/// neural CDE over a file of observations (docs/training.md "CDEs").
TrainField load_train_field(const TrainOptions& o, const TrainSettings& s, const Dataset& data) {
  if (s.field.empty()) return {};
  const bool cde = is_cde_field(s.field);
  require(cde || (s.field.starts_with(torchscript_prefix) &&
                  s.field.size() > torchscript_prefix.size()),
          "--field '{}': expected torchscript:PATH to a saved TorchScript module or "
          "cde:FILE[,hidden=H,widths=W1xW2,...] (without --field: the MLP of --widths)",
          s.field);
  // A CDE's network takes --activation, --init and --seed; its widths are in the spec.
  const std::vector<const char*> mlp_only =
      cde ? std::vector<const char*>{"widths", "time_input"}
          : std::vector<const char*>{"widths", "activation", "time_input", "init"};
  for (const char* key : mlp_only) {
    std::string flag = key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    require(!o.flags.contains(key), "--{} applies to MLP models only; --field '{}' is {}", flag,
            s.field,
            cde ? "a CDE (its widths are the spec's widths=W1xW2)" : "a TorchScript module");
  }
  if (cde) return cde_train_field(s, data);
  TorchScriptField<double> loaded =
      load_torchscript_field<double>(s.field.substr(torchscript_prefix.size()), data.dim());
  return {std::move(loaded.field), std::move(loaded.theta), {}};
}

/// Defaults of the dataset (or the checkpoint), then the config file, then the flags.
TrainSettings resolve_settings(const TrainOptions& o, const std::string& dataset,
                               const TrainSettings& base) {
  const auto given = [&](const char* key) { return o.flags.contains(key); };
  require(
      !(given("steps") || given("dt")) || !(given("rtol") || given("atol") || given("max_steps")),
      "--steps/--dt and --rtol/--atol/--max-steps exclude each other: give fixed steps or "
      "adaptive tolerances, not both");
  require(!(given("steps") && given("dt")), "--steps and --dt exclude each other");
  TrainSettings s = base;
  if (!o.config.empty()) s = apply_config_file(s, o.config);
  for (const auto& [key, value] : o.flags.items()) {
    const nlohmann::ordered_json one = {{key, value}};
    std::string flag = key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    s = apply_settings_json(s, one.dump(), "--" + flag);
  }
  s.dataset = dataset;  // --dataset wins over the config's "dataset"
  return s;
}

std::string control_text(const TrainSettings& s) {
  if (const auto* f = std::get_if<FixedSteps>(&s.control))
    return f->steps > 0 ? fmt::format("{} fixed steps", f->steps) : fmt::format("dt {}", f->dt);
  const auto& a = std::get<AdaptiveSteps>(s.control);
  return fmt::format("adaptive rtol {} atol {} max {} steps", a.rtol, a.atol, a.max_steps);
}

void print_header(const Trainer& t) {
  const Dataset& d = t.dataset();
  const TrainSettings& s = t.settings();
  fmt::print("dataset {}: {}{} points of {} ({}), t = {} … {}\n", d.name,
             d.trajectories() > 1 ? fmt::format("{} trajectories × ", d.trajectories()) : "",
             d.points(), fmt::join(d.columns, ", "), d.dim(), d.times.front(), d.times.back());
  if (t.batch_size() < d.trajectories() || s.batch_chunks > 1 || t.communicator().size() > 1)
    fmt::print(
        "batch {} trajectories per iteration in {} chunk(s){}\n", t.batch_size(), s.batch_chunks,
        t.communicator().size() > 1 ? fmt::format(" over {} MPI ranks", t.communicator().size())
                                    : "");
  fmt::print("model {} ({} parameters); solver {}, {}{}; method {}\n", t.field().name(),
             t.param_count(), t.solver_name(), control_text(s), s.dense ? ", dense output" : "",
             s.method);
  if (t.is_sde())
    fmt::print("SDE: {} noise, a fresh Brownian sample per iteration from seed {}\n", s.noise,
               s.brownian_seed);
  fmt::print("optimizer {} lr {} ({}) weight decay {}{}; {} iterations, seed {}\n",
             optimizer_name(s.optimizer.kind), s.lr, schedule_name(s.schedule),
             s.optimizer.weight_decay, std::isinf(s.clip) ? "" : fmt::format(", clip {}", s.clip),
             s.iterations, s.seed);
  std::fflush(stdout);
}

/// The loss curve and the fit against the data, drawn by scripts/plot_training.py.
void plot(const Trainer& t, const std::string& png) {
  Batch<double> prediction;
  try {
    prediction = t.predict();
  } catch (const Error& e) {
    fmt::print(stderr, "revode: warning: no plot: the trained model cannot be solved: {}\n",
               e.what());
    return;
  }
  const auto rows = [](const Batch<double>& b) {
    std::vector<std::vector<double>> out(std::size_t(b.rows()));
    for (Index i = 0; i < b.rows(); ++i)
      out[std::size_t(i)].assign(b.row(i).begin(), b.row(i).end());
    return out;
  };
  const nlohmann::ordered_json j = {{"title", fmt::format("{} — {} with {}", t.dataset().name,
                                                          t.field().name(), t.settings().method)},
                                    {"losses", t.losses()},
                                    {"times", t.dataset().times},
                                    {"columns", t.dataset().columns},
                                    {"data", rows(t.dataset().trajectory(0))},
                                    {"prediction", rows(prediction)}};
  const std::string input = (std::filesystem::temp_directory_path() /
                             fmt::format("revode_train_plot_{}.json", ::getpid()))
                                .string();
  write_output_file("--plot", input, j.dump());
  if (run_plot_script("plot_training.py", {input, png}))
    fmt::print(stderr, "plot written to {}\n", png);
  std::filesystem::remove(input);
}

/// Every path the run will write, checked before it starts (a typo must not cost the run);
/// temporaries that a killed run left beside them are removed.
void check_output_paths(const TrainOptions& o, const std::string& checkpoint_path) {
  if (!checkpoint_path.empty()) {
    require_writable_file(o.checkpoint.empty() ? "--resume" : "--checkpoint", checkpoint_path,
                          /*replaced_by_rename=*/true);
    remove_stale_temporaries(checkpoint_path);
  }
  if (!o.output.empty()) {
    require_writable_file("--output", o.output, /*replaced_by_rename=*/true);
    remove_stale_temporaries(o.output);
  }
  if (!o.plot.empty()) require_writable_file("--plot", o.plot);
}

void train(const TrainOptions& o, const TrainRanks& ranks) {
  const bool root = ranks.is_root();  // rank 0 alone prints and writes files
  if (root) check_output_paths(o, !o.checkpoint.empty() ? o.checkpoint : o.resume);
  std::optional<Checkpoint> checkpoint;
  if (!o.resume.empty()) checkpoint = load_checkpoint(o.resume);
  const std::string config_text = o.config.empty() ? "" : read_text_file(o.config, "config file");
  std::string name = o.dataset;
  if (name.empty() && !o.config.empty())
    name = dataset_in_json(config_text, fmt::format("config '{}'", o.config));
  if (name.empty()) name = checkpoint ? checkpoint->settings.dataset : "white-dwarf";
  Dataset data = make_dataset(name);
  const TrainSettings base = checkpoint ? checkpoint->settings : data.suggested;
  TrainSettings settings = resolve_settings(o, name, base);
  TrainField field = load_train_field(o, settings, data);
  Trainer trainer(std::move(data), std::move(settings), ranks.communicator(), o.threads,
                  std::move(field));
  if (checkpoint) resume(trainer, *checkpoint, o.resume);
  const Index start = trainer.iteration();

  if (!o.json && root) {
    print_header(trainer);
    if (checkpoint) fmt::print("resuming from '{}' at iteration {}\n", o.resume, start);
  }
  TrainProgressDisplay display(trainer.settings().iterations, o.log_every,
                               ::isatty(STDERR_FILENO) == 1);
  const std::string checkpoint_path = !o.checkpoint.empty() ? o.checkpoint : o.resume;
  require(o.checkpoint_every >= 0, "--checkpoint-every {}; required: >= 0", o.checkpoint_every);
  const auto begin = std::chrono::steady_clock::now();
  trainer.run(
      [&](const TrainProgress& p) {
        if (root) display.update(p);
      },
      CheckpointOptions{checkpoint_path, o.checkpoint_every});
  const double seconds = seconds_since(begin);
  if (!root) return;
  display.finish();

  if (!o.output.empty()) save_params_file(o.output, trainer, seconds);
  if (!o.plot.empty()) plot(trainer, o.plot);
  const Index ran = trainer.iteration() - start;
  const double final_loss = trainer.losses().back();
  warn_about_recomputation(trainer.settings().method, trainer.last_stats());
  if (o.json) {
    Json j;
    j["command"] = "train";
    j["dataset"] = trainer.dataset().name;
    j["model"] = trainer.field().name();
    j["solver"] = trainer.solver_name();
    j["method"] = trainer.settings().method;
    j["iterations"] = trainer.iteration();
    j["start_iteration"] = start;
    j["best_loss"] = trainer.best_loss();
    j["best_iteration"] = trainer.best_iteration();
    j["final_loss"] = final_loss;
    j["seconds"] = seconds;
    j["iterations_per_second"] = seconds > 0 ? double(ran) / seconds : 0.0;
    j["stats"] = stats_json(trainer.last_stats());
    j["params_file"] = o.output.empty() ? Json(nullptr) : Json(o.output);
    j["checkpoint"] = checkpoint_path.empty() ? Json(nullptr) : Json(checkpoint_path);
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("best loss {:.6e} at iteration {}; final loss {:.6e}\n", trainer.best_loss(),
             trainer.best_iteration(), final_loss);
  fmt::print("{} iterations in {:.3f} s ({:.1f} it/s); last gradient: {}\n", ran, seconds,
             seconds > 0 ? double(ran) / seconds : 0.0, trainer.last_stats().brief());
  if (!checkpoint_path.empty()) fmt::print("checkpoint: {}\n", checkpoint_path);
  if (!o.output.empty())
    fmt::print("parameters: {}\n  revode solve {}{}\n", o.output,
               solve_flags(load_params_file(o.output), o.output),
               // A CDE solves every trajectory's path at once (sample 0 is trajectory 0).
               is_cde_field(trainer.settings().field)
                   ? fmt::format(" --activation {} --batch {}",
                                 activation_name(trainer.settings().model.activation),
                                 trainer.dataset().trajectories())
                   : "");
}

void run_train(const TrainOptions& o) {
  const TrainRanks ranks;
  try {
    train(o, ranks);
  } catch (const Error& e) {
    ranks.abort_all(e.what());  // several ranks: ends them all; one: returns
    throw;
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* c = app.add_subcommand(
      "train",
      "Fit a neural ODE to a dataset (the published experiments, or a CSV file); each "
      "dataset brings its published settings (docs/training.md), which --config and flags "
      "override.");
  c->add_option("--dataset", o->dataset,
                "white-dwarf, oscillator, pendulum, ensemble:FIELD:N[:SEED] (N trajectories "
                "of an analytic field from random initial states), or FILE.csv (header row; "
                "time, then the state; or trajectory,t,state...); default white-dwarf");
  c->add_option("--config", o->config,
                "JSON file of settings {\"lr\": 0.01, ...} (keys: docs/training.md); flags win");
  add_setting_flags(*c, *o);
  c->add_option("--checkpoint", o->checkpoint, "write resumable checkpoints to FILE");
  c->add_option("--checkpoint-every", o->checkpoint_every,
                "iterations between checkpoints (0: only at the end)")
      ->capture_default_str();
  c->add_option("--resume", o->resume,
                "continue from checkpoint FILE exactly (keeps checkpointing to it unless "
                "--checkpoint is given)");
  c->add_option("--output", o->output, "write the parameters and metadata to FILE.json");
  c->add_option("--plot", o->plot, "draw the loss curve and the fit to FILE.png");
  c->add_option("--log-every", o->log_every,
                "without a terminal: a progress line every N iterations (default: 20 lines)");
  c->add_flag("--json", o->json, "print a JSON summary as the last line");
  c->add_option("--threads", o->threads,
                "threads per process that split each chunk of trajectories (0: the machine's "
                "cores); the numbers are the same for every count (docs/parallel.md)")
      ->capture_default_str();
  c->callback([o] { run_train(*o); });
}

}  // namespace revode::cli
