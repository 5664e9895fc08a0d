/// Everything that determines a training run's result (dataset, model, solver, step control,
/// gradient method, optimizer, schedule, iterations, batch size, seed) and its JSON form: the flat object
/// of config files, checkpoints and parameter files (keys documented in docs/training.md).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "revode/nn/mlp.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/solvers/step_control.hpp"
#include "revode/train/adam.hpp"
#include "revode/train/lr_schedule.hpp"

namespace revode {

struct TrainSettings {
  std::string dataset;  ///< "white-dwarf", "oscillator", "pendulum" or a CSV path
  /// "": the MLP of `model` (and `init`). Otherwise a field the caller loads and hands to the
  /// Trainer (TrainField), e.g. "torchscript:PATH" (the CLI's torch plugin); `model` and
  /// `init` are then unused.
  std::string field;
  MlpSpec model;
  Init init = Init::pytorch_default;
  /// The solver. With method "reversible" a plain tableau name (e.g. "midpoint") means
  /// McCallum–Foster over it ("reversible:midpoint", coupling below), the paper's pairing;
  /// other methods use the name as given. See `effective_solver`.
  std::string solver = "midpoint";
  double coupling = 0.999;  ///< McCallum–Foster λ
  StepControl control = FixedSteps{100, 0.0};
  /// Reach data times inside a step by dense output instead of shortening steps onto them.
  bool dense = false;
  std::string method = "reversible";  ///< a make_gradient_method spec
  /// Method reversible: the reconstruction guard's policy ("repair", "error" or "warn").
  std::string reversible_guard = "repair";
  AdamOptions optimizer{};
  double lr = 1e-2;
  ScheduleKind schedule = ScheduleKind::constant;
  double final_lr = 0.0;  ///< cosine schedule only
  double clip = std::numeric_limits<double>::infinity();  ///< global-norm bound; inf: none
  Index iterations = 1000;
  /// Trajectories per iteration, drawn without replacement from the rng of TrainState;
  /// 0 (or >= the dataset's count): every trajectory, every iteration, and nothing is drawn.
  Index batch_size = 0;
  /// The batch is computed as this many chunks, contiguous runs of its trajectories of sizes
  /// ⌊(i+1)B/C⌋ − ⌊iB/C⌋, each one batched solve; their losses and gradients are added in
  /// chunk order. Ranks of data-parallel training take whole chunks (C ≥ P), so a run gives
  /// the same bits on any number of ranks with the same C (docs/mpi.md).
  Index batch_chunks = 1;
  std::uint64_t seed = 0;
  /// SDE training (docs/training.md "SDEs"): a diffusion spec (as `--diffusion` of solve/grad)
  /// makes the model the drift of dy = f dt + g ∘ dW and θ = [θ_f; θ_g]; "" trains an ODE.
  /// Iteration i's Brownian sample is a function of (brownian_seed, i, chunk): sde_sample_seed.
  std::string diffusion;
  std::string noise = "diagonal";  ///< SDEs: diagonal, scalar, additive or general
  std::int64_t brownian_seed = 0;  ///< SDEs: 0 … kMaxBrownianSeed

  /// The schedule these settings describe.
  LrSchedule schedule_spec() const { return {schedule, lr, final_lr, iterations}; }
};

/// The solver name actually built: "reversible:<solver>" when method is "reversible" and
/// solver names a plain tableau, `solver` otherwise.
std::string effective_solver(const TrainSettings& settings);

/// Checks every value and combination that needs no dataset (the trainer checks the model
/// against the data). Throws revode::Error naming the setting, its value and the rule.
void validate(const TrainSettings& settings);

/// The settings as one JSON object, keys in a fixed order, numbers round-tripping exactly.
std::string settings_to_json(const TrainSettings& settings);

/// Applies the keys present in the JSON object `text` on top of `base` (absent keys keep
/// base's values). `source` names the text in errors ("config 'run.json'"). Unknown keys, wrong
/// types and out-of-range values throw revode::Error with the key and its line; a syntax error
/// with nlohmann's line and column.
TrainSettings apply_settings_json(TrainSettings base, std::string_view text,
                                  std::string_view source);

/// Reads the file and applies it as apply_settings_json does; throws revode::Error when the
/// file cannot be read.
TrainSettings apply_config_file(TrainSettings base, const std::string& path);

/// The value of "dataset" in the JSON object `text` ("" when absent), checked as
/// apply_settings_json checks it, so that a dataset's defaults can be loaded first.
std::string dataset_in_json(std::string_view text, std::string_view source);

/// "" when equal; otherwise the differing keys, "lr: 0.01 vs 0.02; seed: 0 vs 1".
std::string settings_difference(const TrainSettings& a, const TrainSettings& b);

/// Reads a whole text file; throws revode::Error naming `what` and the path.
std::string read_text_file(const std::string& path, std::string_view what);

}  // namespace revode
