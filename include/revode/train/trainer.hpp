/// The training loop: fits an MLP vector field to a dataset by minimising the mean squared
/// error over every data time of every trajectory of the batch (MseData with per-column data,
/// y0 = each trajectory's first data point; the trajectories of a batch are the columns of one
/// batched solve) with any gradient method and Adam/AdamW, optionally clipped and scheduled;
/// progress per iteration and resumable checkpoints (checkpoint.hpp). Mini-batches
/// (settings.batch_size) are drawn from TrainState::rng; a batch is computed in
/// settings.batch_chunks chunks, which data-parallel training shares out over the ranks of a
/// Communicator (docs/mpi.md). With the full batch the setup is
/// built once and an iteration allocates nothing beyond what the gradient method itself does;
/// a mini-batch rebuilds the batch's initial states and data each iteration.
#pragma once

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "revode/gradients/gradient_method.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/parallel/executor.hpp"
#include "revode/sde/sde_field.hpp"
#include "revode/train/adam.hpp"
#include "revode/train/dataset.hpp"
#include "revode/train/communicator.hpp"

namespace revode {

/// Everything that changes from one iteration to the next: restoring it (with the same
/// settings and data) continues the run bit for bit.
struct TrainState {
  Vector<double> params;  ///< θ after `iteration` updates
  AdamState optimizer;
  /// Draws the mini-batches (settings.batch_size); the full-batch loop draws nothing from it.
  /// Checkpointed, so a resumed run draws the batches the uninterrupted one would have.
  std::mt19937_64 rng;
  Index iteration = 0;          ///< iterations completed
  std::vector<double> losses;   ///< the loss of each completed iteration, before its update
};

/// A field the Trainer fits instead of the MLP of settings.model, for settings.field non-empty:
/// the caller loads it (the core library builds only MLPs; the CLI loads "torchscript:PATH"
/// through its torch plugin). θ starts at initial_params, not drawn from settings.seed.
struct TrainField {
  std::unique_ptr<VectorField<double>> field;
  Vector<double> initial_params;
  /// For a field that is not column-local (column b carries trajectory b's own data, as a
  /// CDE's control paths do): the field over trajectories `ids` only, column j = trajectory
  /// ids[j], same θ. Given, each chunk of a batch (mini-batches, chunks, MPI ranks) and predict
  /// solve their own trajectories' field; absent, such a field trains on the full batch in one
  /// chunk (a named error otherwise).
  std::function<std::unique_ptr<VectorField<double>>(const std::vector<Index>& ids)> columns;
};

/// Bitwise equality of every field.
bool operator==(const TrainState& a, const TrainState& b);

struct TrainProgress {
  Index iteration;       ///< iterations completed, 1 … iterations
  Index iterations;      ///< the run's total
  double loss;           ///< of the iteration just completed (its batch, over all ranks)
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

/// SDE training: the seed of the Brownian tree that drives chunk `chunk` of iteration
/// `iteration` (0-based), a SplitMix64 mix of the three, in 0 … kMaxBrownianSeed. Sample b of
/// the chunk is the tree's column b. A pure function of the settings and the iteration, so a
/// resumed run draws the same noise with nothing more in the checkpoint.
std::int64_t sde_sample_seed(std::int64_t brownian_seed, Index iteration, Index chunk);

class Trainer {
 public:
  /// Validates the settings and their fit with the data (the model's state dimension must be
  /// the dataset's; every chunk needs a trajectory and every rank a chunk), builds model,
  /// solver, gradient method, loss and optimizer, and draws θ from settings.seed. `comm`
  /// (default: SerialCommunicator) says which chunks of each batch this process computes;
  /// every rank must be given the same dataset and settings. `threads` (0: the machine's
  /// cores) split each chunk's trajectories as parallel_gradient does (docs/parallel.md): the
  /// numbers are the same for every thread count. `field`: the model when settings.field is
  /// set (required then, refused otherwise). Throws revode::Error naming the problem.
  Trainer(Dataset dataset, TrainSettings settings,
          std::shared_ptr<const Communicator> comm = nullptr, Index threads = 0,
          TrainField field = {});
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;
  ~Trainer();

  const Dataset& dataset() const { return dataset_; }
  const TrainSettings& settings() const { return settings_; }
  /// The MLP of settings.model, or the TrainField's field: the ODE's field, or the SDE's drift.
  const VectorField<double>& model() const { return *model_; }
  /// What is solved: model(), or (settings.diffusion) the SDE of drift and diffusion.
  const VectorField<double>& field() const;
  /// θ's length: the model's parameters, then (SDEs) the diffusion's.
  Index param_count() const { return field().param_count(); }
  bool is_sde() const { return sde_ != nullptr; }
  /// The solver actually run (effective_solver of the settings).
  const std::string& solver_name() const { return solver_name_; }
  const Vector<double>& params() const { return theta_; }
  Index iteration() const { return iteration_; }
  const std::vector<double>& losses() const { return losses_; }
  double best_loss() const;       ///< +inf before the first iteration
  Index best_iteration() const;   ///< 1-based; 0 before the first iteration
  /// Statistics of the latest gradient (stored_floats: the method's peak memory), of this
  /// rank's last chunk.
  const SolveStats& last_stats() const { return last_stats_; }
  const Communicator& communicator() const { return *comm_; }
  /// Trajectories per iteration: settings.batch_size, or every trajectory when that is 0 or
  /// larger than the dataset.
  Index batch_size() const { return batch_size_; }

  /// A copy of the state, for checkpoints and tests.
  TrainState state() const;
  /// Continues from `state`. Throws revode::Error when its sizes do not fit the model or its
  /// iteration exceeds settings.iterations.
  void restore(const TrainState& state);

  /// One iteration: draw the batch (mini-batches only), gradient of this rank's shard at θ,
  /// sum over the ranks, clip, update. Returns the batch's loss at θ before the update.
  /// Chunks: the batch's trajectories b_0 … b_B−1 form C = settings.batch_chunks contiguous
  /// chunks, chunk i = [⌊iB/C⌋, ⌊(i+1)B/C⌋), and rank r of P computes chunks
  /// [⌊rC/P⌋, ⌊(r+1)C/P⌋), each as one batched solve. A chunk's mean loss and gradient are
  /// scaled by (its count)/B on the rank that computes it; the communicator gathers every
  /// chunk's on every rank, which adds them in chunk order ((g_0 + g_1) + g_2) + …. So every
  /// rank holds the same batch mean and updates θ identically, bit for bit the same for any P.
  /// Throws revode::Error naming the iteration when the loss or gradient is not finite, and
  /// rethrows a failed solve with the iteration added (on every rank: a rank whose solve
  /// failed tells the others through the sum instead of leaving them waiting).
  double step();
  /// Iterates until settings.iterations, calling `progress` after each iteration and writing
  /// checkpoints as `checkpoint` says (before the progress call of that iteration; rank 0
  /// alone writes them).
  void run(const ProgressCallback& progress = {}, const CheckpointOptions& checkpoint = {});

  /// The model's solution from trajectory n's first data point, at the data times, with the
  /// current θ: dim × K (a field with TrainField::columns: over trajectory n's own data). An SDE's is one sample path: the Brownian tree of settings.brownian_seed
  /// itself (column 0), as `revode solve --brownian-seed S` draws it.
  Batch<double> predict(Index trajectory = 0) const;

 private:
  Dataset dataset_;
  TrainSettings settings_;
  std::string solver_name_;
  std::unique_ptr<VectorField<double>> model_;
  std::unique_ptr<SdeField<double>> sde_;     ///< the SDE over a copy of model_; null for ODEs
  std::unique_ptr<Stepper<double>> stepper_;  ///< ODEs: the solver; SDEs: predict's
  /// SDEs: this rank's chunks' steppers for the current iteration's Brownian samples.
  std::vector<std::unique_ptr<Stepper<double>>> noise_steppers_;
  std::unique_ptr<GradientMethod<double>> method_;
  /// TrainField::columns: this rank's chunks' fields over their trajectories (chunk_fields_),
  /// for a field that is not column-local; empty otherwise.
  std::function<std::unique_ptr<VectorField<double>>(const std::vector<Index>&)> columns_;
  std::vector<std::unique_ptr<VectorField<double>>> chunk_fields_;
  std::shared_ptr<const Communicator> comm_;
  std::unique_ptr<Executor> executor_;
  Index batch_size_ = 0;
  Vector<double> theta_;  ///< θ, updated in place
  /// This rank's chunks: chunk first_chunk_ + i has loss losses_of_chunks_[i] and problem
  /// problems_[i] (which refers to the members above and to its loss, and holds a copy of θ
  /// and y0 = the first data point of each of the chunk's trajectories).
  Index first_chunk_ = 0;
  std::vector<std::unique_ptr<Loss<double>>> chunk_losses_;
  std::vector<std::unique_ptr<GradientProblem<double>>> problems_;
  std::vector<Index> order_;   ///< the batch: the draw's permutation of 0 … N − 1
  /// Per chunk [failed, scaled loss, scaled ∂L/∂θ]: this rank's, then every rank's.
  Vector<double> mine_, all_;
  std::vector<Index> counts_;  ///< values per rank in all_
  Vector<double> gradient_;    ///< the chunks' sum [failed, loss, ∂L/∂θ]; clipped in place
  Adam optimizer_;
  std::mt19937_64 rng_;
  Index iteration_ = 0;
  std::vector<double> losses_;
  SolveStats last_stats_;
  double last_lr_ = 0, last_grad_norm_ = 0;

  /// Trajectories [begin, end) of the batch that chunk i holds.
  std::pair<Index, Index> chunk(Index i) const;
  /// Rebuilds this rank's chunk losses and problems for the batch in order_ (SDEs: driven
  /// by noise_steppers_).
  void use_batch();
  /// SDEs: the SDE stepper of the solver over the Brownian tree seeded `seed`.
  std::unique_ptr<Stepper<double>> sde_stepper(std::int64_t seed) const;
  /// SDEs: noise_steppers_ for iteration_'s samples.
  void draw_noise();
};

}  // namespace revode
