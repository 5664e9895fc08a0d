/// Parameter files: the trained θ with what is needed to use it again (model spec, dataset,
/// settings, training summary), as JSON; `revode solve --params FILE` reads its "params" list.
/// Format in docs/training.md.
#pragma once

#include <string>
#include <vector>

#include "revode/train/train_settings.hpp"
#include "revode/train/trainer.hpp"

namespace revode {

struct ParamsFile {
  std::string field;  ///< settings.field of the run ("": the MLP `model`)
  MlpSpec model;      ///< the MLP's spec (field empty)
  Vector<double> params;  ///< θ, model's param_count entries
  TrainSettings settings;
  std::string dataset_fingerprint;
  std::vector<double> y0;  ///< the data's first state
  std::vector<double> times;  ///< the data times the model was fitted at
  Index iterations = 0;
  double best_loss = 0, final_loss = 0, seconds = 0;
};

/// Writes the trainer's current θ and metadata atomically; `seconds` is the training time.
void save_params_file(const std::string& path, const Trainer& trainer, double seconds);

/// Reads a file written by save_params_file. Throws revode::Error naming the file and field
/// when it is unreadable, not JSON, or lacks or mistypes a field, or when θ's length is not
/// the model's parameter count.
ParamsFile load_params_file(const std::string& path);

/// The `revode solve` flags that rebuild the fitted trajectory from the file at `path`.
std::string solve_flags(const ParamsFile& file, const std::string& path);

}  // namespace revode
