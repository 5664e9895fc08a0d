/// Resumable training checkpoints: one JSON file (format in docs/training.md) with the
/// settings, the dataset's fingerprint, θ, the optimizer state, the RNG state, the iteration
/// and the loss history, sealed by a checksum. Resuming from it continues bit for bit.
#pragma once

#include <string>

#include "revode/train/train_settings.hpp"
#include "revode/train/trainer.hpp"

namespace revode {

struct Checkpoint {
  TrainSettings settings;
  std::string dataset_fingerprint;  ///< Dataset::fingerprint of the data trained on
  TrainState state;
};

/// Writes the trainer's settings and state to `path` atomically (write_file_atomically).
void save_checkpoint(const std::string& path, const Trainer& trainer);

/// Reads a checkpoint. Throws revode::Error when the file cannot be read, is not a revode
/// checkpoint, has an unknown version, fails its checksum (truncated or edited), or holds
/// malformed fields; the message names the file and what is wrong.
Checkpoint load_checkpoint(const std::string& path);

/// Continues `trainer` from `checkpoint`. Throws revode::Error naming every differing setting
/// when the trainer's settings are not the checkpoint's, or when the data's fingerprint
/// differs (the data file changed since the checkpoint was written).
void resume(Trainer& trainer, const Checkpoint& checkpoint, const std::string& path);

}  // namespace revode
