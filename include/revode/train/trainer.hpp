/// The training loop: fits an MLP vector field to a dataset by minimising the mean squared
/// error over every data time (MseData, y0 = the first data point) with any gradient method
/// and Adam/AdamW, optionally clipped and scheduled; progress per iteration and resumable
/// checkpoints (checkpoint.hpp). The setup is built once; an iteration allocates nothing beyond
/// what the gradient method itself does.
#pragma once

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "revode/gradients/gradient_method.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/train/adam.hpp"
#include "revode/train/dataset.hpp"

namespace revode {

/// Everything that changes from one iteration to the next: restoring it (with the same
/// settings and data) continues the run bit for bit.
struct TrainState {
  Vector<double> params;  ///< θ after `iteration` updates
  AdamState optimizer;
  /// Reserved for stochastic options (minibatches, noise): the full-batch loop draws nothing
  /// from it yet, but it is checkpointed so such options will resume exactly too.
  std::mt19937_64 rng;
  Index iteration = 0;          ///< iterations completed
  std::vector<double> losses;   ///< the loss of each completed iteration, before its update
};

/// Bitwise equality of every field.
bool operator==(const TrainState& a, const TrainState& b);

struct TrainProgress {
  Index iteration;       ///< iterations completed, 1 … iterations
  Index iterations;      ///< the run's total
  double loss;           ///< of the iteration just completed
  double best_loss;      ///< the lowest so far
  double lr;             ///< the learning rate it used
  double grad_norm;      ///< ‖∂L/∂θ‖ before clipping
  double seconds;        ///< wall time since `run` started
  Index iterations_run;  ///< iterations completed in this `run` call (for it/s)
};
using ProgressCallback = std::function<void(const TrainProgress&)>;

/// Where and how often `run` writes checkpoints: after every `every` iterations (0: never
/// before the end) and after the last one. An empty path writes none.
struct CheckpointOptions {
  std::string path;
  Index every = 0;
};

/// Throws revode::Error unless every >= 0 (Trainer::run calls it before the first iteration).
void validate(const CheckpointOptions& options);

class Trainer {
 public:
  /// Validates the settings and their fit with the data (the model's state dimension must be
  /// the dataset's), builds model, solver, gradient method, loss and optimizer, and draws θ
  /// from settings.seed. Throws revode::Error naming the problem.
  Trainer(Dataset dataset, TrainSettings settings);
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;
  ~Trainer();

  const Dataset& dataset() const { return dataset_; }
  const TrainSettings& settings() const { return settings_; }
  const Mlp<double>& model() const { return model_; }
  /// The solver actually run (effective_solver of the settings).
  const std::string& solver_name() const { return solver_name_; }
  const Vector<double>& params() const { return problem_->theta; }
  Index iteration() const { return iteration_; }
  const std::vector<double>& losses() const { return losses_; }
  double best_loss() const;       ///< +inf before the first iteration
  Index best_iteration() const;   ///< 1-based; 0 before the first iteration
  /// Statistics of the latest gradient (stored_floats: the method's peak memory).
  const SolveStats& last_stats() const { return last_stats_; }

  /// A copy of the state, for checkpoints and tests.
  TrainState state() const;
  /// Continues from `state`. Throws revode::Error when its sizes do not fit the model or its
  /// iteration exceeds settings.iterations.
  void restore(const TrainState& state);

  /// One iteration: gradient at θ, clip, update. Returns the loss at θ before the update.
  /// Throws revode::Error naming the iteration when the loss or gradient is not finite, and
  /// rethrows a failed solve with the iteration added.
  double step();
  /// Iterates until settings.iterations, calling `progress` after each iteration and writing
  /// checkpoints as `checkpoint` says (before the progress call of that iteration).
  void run(const ProgressCallback& progress = {}, const CheckpointOptions& checkpoint = {});

  /// The model's trajectory at the data times with the current θ: dim × K.
  Batch<double> predict() const;

 private:
  Dataset dataset_;
  TrainSettings settings_;
  std::string solver_name_;
  Mlp<double> model_;
  std::unique_ptr<Stepper<double>> stepper_;
  std::unique_ptr<GradientMethod<double>> method_;
  std::unique_ptr<Loss<double>> loss_;
  /// Refers to the members above and owns θ (updated in place) and y0 = the first data point.
  std::unique_ptr<GradientProblem<double>> problem_;
  Adam optimizer_;
  std::mt19937_64 rng_;
  Index iteration_ = 0;
  std::vector<double> losses_;
  SolveStats last_stats_;
  double last_lr_ = 0, last_grad_norm_ = 0;
};

}  // namespace revode
