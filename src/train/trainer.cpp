/// The training loop (see the header): setup once, then gradient, clip, update.
#include "revode/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "revode/core/allocation_limit.hpp"
#include "revode/core/error.hpp"
#include "revode/core/status.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/parallel/parallel_gradient.hpp"
#include "revode/sde/brownian_tree.hpp"
#include "revode/sde/drift_diffusion.hpp"
#include "revode/sde/sde_steppers.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/train/checkpoint.hpp"
#include "revode/train/gradient_clipping.hpp"

namespace revode {
namespace {

/// The settings, checked on their own and against the data and the ranks, before anything
/// is built.
TrainSettings checked(TrainSettings s, const Dataset& d, const Communicator& comm,
                      const TrainField& field) {
  validate(s);
  require(d.points() >= 2 && d.trajectories() >= 1 &&
              d.states.cols() == d.trajectories() * d.points(),
          "dataset '{}' has {} times and {} states; expected >= 2 times and their states for "
          "each trajectory",
          d.name, d.times.size(), d.states.cols());
  if (s.field.empty()) {
    require(field.field == nullptr,
            "a field was given to the trainer, but the settings name none (field is empty: the "
            "MLP of widths)");
    require(s.model.widths.front() == d.dim(),
            "the model's widths start at {}, but dataset '{}' has {} state columns; the first "
            "and last width must be the state dimension",
            s.model.widths.front(), d.name, d.dim());
  } else {
    require(field.field != nullptr,
            "field '{}': the trainer builds only MLPs; a field named in the settings must be "
            "loaded by the caller (the revode CLI loads torchscript:PATH)",
            s.field);
    require(field.field->state_dim() == d.dim(),
            "field '{}' has state dimension {}, but dataset '{}' has {} state columns", s.field,
            field.field->state_dim(), d.name, d.dim());
    require(s.diffusion.empty(),
            "field '{}' with diffusion '{}': an SDE is trained over the MLP drift only (a loaded "
            "field is not yet a drift)",
            s.field, s.diffusion);
    require(field.initial_params.size() == field.field->param_count(),
            "field '{}' has {} parameters but {} initial values were given", s.field,
            field.field->param_count(), field.initial_params.size());
  }
  const Index batch = s.batch_size > 0 ? std::min(s.batch_size, d.trajectories()) : d.trajectories();
  // A field whose column b carries trajectory b's own data (a CDE's control path) solves the
  // whole dataset as one batch: a mini-batch or a chunk would pair columns with other paths.
  if (field.field != nullptr && !field.field->column_local() && !field.columns)
    require(batch == d.trajectories() && s.batch_chunks == 1,
            "field '{}' ties column b to trajectory b (not column-local) and cannot be split "
            "by trajectory, so it trains on the full batch in one chunk; got batch_size {} and batch_chunks {} for dataset '{}' of "
            "{} trajectories (give --batch-size 0 --batch-chunks 1)",
            s.field, s.batch_size, s.batch_chunks, d.name, d.trajectories());
  require(s.batch_chunks <= batch,
          "a batch of {} trajectories in {} chunks: every chunk needs at least one trajectory; "
          "give --batch-chunks <= {} (dataset '{}' has {} trajectories, batch_size is {})",
          batch, s.batch_chunks, batch, d.name, d.trajectories(), s.batch_size);
  require(s.batch_chunks >= comm.size(),
          "a batch in {} chunk(s) over {} ranks: every rank needs at least one chunk; give "
          "--batch-chunks >= {} (a multiple of {} shares the work evenly), or run fewer ranks",
          s.batch_chunks, comm.size(), comm.size(), comm.size());
  // The loss history holds one double per iteration (reserved up front).
  require_memory("iterations", s.iterations, {s.iterations, Index(sizeof(double))});
  return s;
}

SaveAt data_save_at(const TrainSettings& s, const Dataset& d) {
  SaveAt save_at;
  save_at.ts = d.times;
  save_at.dense = s.dense;
  return save_at;
}

std::unique_ptr<VectorField<double>> model_of(const TrainSettings& s, TrainField& field) {
  if (field.field) return std::move(field.field);
  return std::make_unique<Mlp<double>>(s.model);
}

/// settings.diffusion: the SDE whose drift is a copy of the MLP; null for an ODE. θ_g's
/// default is drawn from seed + 1, as `revode solve --diffusion` draws it.
DiffusionBuild<double> diffusion_of(const TrainSettings& s, const VectorField<double>& drift) {
  return make_diffusion<double>(s.diffusion, parse_noise_type(s.noise), drift.state_dim(),
                                s.model.activation, s.seed + 1);
}

std::unique_ptr<SdeField<double>> make_sde(const TrainSettings& s,
                                           const VectorField<double>& drift) {
  if (s.diffusion.empty()) return nullptr;
  DiffusionBuild<double> g = diffusion_of(s, drift);
  return std::make_unique<DriftDiffusion<double>>(drift.clone(), std::move(g.diffusion),
                                                  parse_noise_type(s.noise), g.noise_dim);
}

/// θ at iteration 0: the given field's own values, or the MLP's drawn from the seed; then
/// (SDEs) the diffusion's default θ_g.
Vector<double> initial_theta(const TrainSettings& s, const VectorField<double>& model,
                             TrainField& field) {
  if (!s.field.empty()) return std::move(field.initial_params);
  Vector<double> theta = static_cast<const Mlp<double>&>(model).init_params(s.init, s.seed);
  if (s.diffusion.empty()) return theta;
  const Vector<double> g = diffusion_of(s, model).default_params;
  Vector<double> both(theta.size() + g.size());
  both << theta, g;
  return both;
}

/// ODEs: the solver. SDEs: its SDE form over the Brownian tree of `seed` on the data's span.
std::unique_ptr<Stepper<double>> make_solver(const TrainSettings& s, const std::string& solver,
                                             const SdeField<double>* sde, const Dataset& d,
                                             std::int64_t seed) {
  const SolverOptions options{s.coupling, 1.0};
  if (sde == nullptr) return make_stepper<double>(solver, options);
  auto brownian =
      std::make_shared<const BrownianTree>(d.times.front(), d.times.back(), sde->noise_dim(), seed);
  return make_sde_stepper<double>(solver, options, std::move(brownian), *sde);
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31U);
}

bool same_bits(const Vector<double>& a, const Vector<double>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), std::size_t(a.size()) * sizeof(double)) == 0;
}

}  // namespace

std::int64_t sde_sample_seed(std::int64_t brownian_seed, Index iteration, Index chunk) {
  std::uint64_t h = splitmix64(std::uint64_t(brownian_seed));
  h = splitmix64(h ^ std::uint64_t(iteration));
  h = splitmix64(h ^ std::uint64_t(chunk));
  return std::int64_t(h >> 1U);  // 0 … 2^63 − 1
}

void validate(const CheckpointOptions& options) {
  require(options.every >= 0,
          "checkpoint every {} iterations; required: >= 0 (0: only after the last iteration)",
          options.every);
}

bool operator==(const TrainState& a, const TrainState& b) {
  return same_bits(a.params, b.params) && a.optimizer == b.optimizer && a.rng == b.rng &&
         a.iteration == b.iteration && a.losses.size() == b.losses.size() &&
         std::memcmp(a.losses.data(), b.losses.data(), a.losses.size() * sizeof(double)) == 0;
}

Trainer::Trainer(Dataset dataset, TrainSettings settings, std::shared_ptr<const Communicator> comm,
                 Index threads, TrainField field)
    : dataset_(std::move(dataset)),
      settings_(checked(std::move(settings), dataset_,
                        comm ? *comm : static_cast<const Communicator&>(SerialCommunicator{}),
                        field)),
      solver_name_(effective_solver(settings_)),
      model_(model_of(settings_, field)),
      sde_(make_sde(settings_, *model_)),
      stepper_(make_solver(settings_, solver_name_, sde_.get(), dataset_, settings_.brownian_seed)),
      method_(make_gradient_method<double>(
          settings_.method, {.policy = parse_guard_policy(settings_.reversible_guard)})),
      columns_(std::move(field.columns)),
      comm_(comm ? std::move(comm) : std::make_shared<const SerialCommunicator>()),
      executor_(std::make_unique<Executor>(threads)),
      batch_size_(settings_.batch_size > 0 ? std::min(settings_.batch_size, dataset_.trajectories())
                                           : dataset_.trajectories()),
      theta_(initial_theta(settings_, *model_, field)),
      order_(std::size_t(dataset_.trajectories())),
      optimizer_(settings_.optimizer, param_count()),
      rng_(settings_.seed) {
  // Refused here rather than at iteration 1's solve: adaptive SDE steps need an embedded
  // estimate that sees the noise (docs/sde.md, "Adaptive steps").
  require(!sde_ || std::holds_alternative<FixedSteps>(settings_.control) ||
              stepper_->error_order() > 0,
          "diffusion '{}' with rtol/atol: SDE solver '{}' has no error estimate for adaptive "
          "steps; give fixed steps (steps or dt) or an adaptive SDE solver (heun, midpoint, "
          "ralston2, reversible-heun, or reversible: over one of those; docs/sde.md)",
          settings_.diffusion, stepper_->name());
  losses_.reserve(std::size_t(settings_.iterations));
  const Index chunks = settings_.batch_chunks, ranks = comm_->size(), rank = comm_->rank();
  const Index values = 2 + param_count();  // per chunk
  first_chunk_ = rank * chunks / ranks;
  for (Index r = 0; r < ranks; ++r)
    counts_.push_back(((r + 1) * chunks / ranks - r * chunks / ranks) * values);
  mine_.resize(counts_[std::size_t(rank)]);
  all_.resize(chunks * values);
  std::iota(order_.begin(), order_.end(), Index(0));
  if (sde_) draw_noise();
  use_batch();  // the full batch's chunks are kept for the whole run; a mini-batch's replaced
}

std::pair<Index, Index> Trainer::chunk(Index i) const {
  const Index c = settings_.batch_chunks;
  return {i * batch_size_ / c, (i + 1) * batch_size_ / c};
}

const VectorField<double>& Trainer::field() const {
  if (sde_) return *sde_;
  return *model_;
}

std::unique_ptr<Stepper<double>> Trainer::sde_stepper(std::int64_t seed) const {
  return make_solver(settings_, solver_name_, sde_.get(), dataset_, seed);
}

void Trainer::draw_noise() {
  const Index count = mine_.size() / (2 + param_count());
  noise_steppers_.clear();
  for (Index i = first_chunk_; i < first_chunk_ + count; ++i)
    noise_steppers_.push_back(sde_stepper(sde_sample_seed(settings_.brownian_seed, iteration_, i)));
}

void Trainer::use_batch() {
  const Index dim = dataset_.dim(), points = dataset_.points();
  const Index count = mine_.size() / (2 + param_count());
  problems_.clear();  // they refer to the losses and the chunk fields
  chunk_losses_.clear();
  chunk_fields_.clear();
  for (Index i = first_chunk_; i < first_chunk_ + count; ++i) {
    const auto [begin, end] = chunk(i);
    Batch<double> y0(dim, end - begin);
    std::vector<Batch<double>> data(std::size_t(points), Batch<double>(dim, end - begin));
    for (Index j = 0; j < end - begin; ++j) {
      const auto trajectory = dataset_.trajectory(order_[std::size_t(begin + j)]);
      y0.col(j) = trajectory.col(0);
      for (Index k = 0; k < points; ++k) data[std::size_t(k)].col(j) = trajectory.col(k);
    }
    chunk_losses_.push_back(std::make_unique<MseData<double>>(std::move(data)));
    const Stepper<double>& stepper =
        sde_ ? *noise_steppers_[std::size_t(i - first_chunk_)] : *stepper_;
    if (columns_)  // the chunk's trajectories' own field (a CDE over their paths)
      chunk_fields_.push_back(columns_(std::vector<Index>(order_.begin() + begin,
                                                          order_.begin() + end)));
    problems_.push_back(std::make_unique<GradientProblem<double>>(GradientProblem<double>{
        columns_ ? *chunk_fields_.back() : field(), stepper, settings_.control, data_save_at(settings_, dataset_),
        dataset_.times.front(), dataset_.times.back(), std::move(y0), theta_,
        *chunk_losses_.back()}));
  }
}

Trainer::~Trainer() = default;

double Trainer::best_loss() const {
  return losses_.empty() ? std::numeric_limits<double>::infinity()
                         : *std::min_element(losses_.begin(), losses_.end());
}

Index Trainer::best_iteration() const {
  if (losses_.empty()) return 0;
  return Index(std::min_element(losses_.begin(), losses_.end()) - losses_.begin()) + 1;
}

TrainState Trainer::state() const {
  return TrainState{theta_, optimizer_.state(), rng_, iteration_, losses_};
}

void Trainer::restore(const TrainState& state) {
  require(state.params.size() == param_count(),
          "the saved state has {} parameters; model {} has {}", state.params.size(), field().name(),
          param_count());
  require(state.params.allFinite(), "the saved parameters contain NaN or Inf");
  require(state.iteration >= 0 && state.iteration <= settings_.iterations &&
              Index(state.losses.size()) == state.iteration,
          "the saved state is at iteration {} with {} losses; expected 0 … {} with one loss per "
          "iteration",
          state.iteration, state.losses.size(), settings_.iterations);
  optimizer_.restore(state.optimizer);
  theta_ = state.params;
  rng_ = state.rng;
  iteration_ = state.iteration;
  losses_ = state.losses;
  losses_.reserve(std::size_t(settings_.iterations));
}

double Trainer::step() {
  const Index n = dataset_.trajectories(), params = param_count(), values = 2 + params;
  // SDEs: every iteration a fresh Brownian sample, a function of the iteration (resumable).
  if (sde_) draw_noise();
  if (batch_size_ < n) {
    // A partial Fisher–Yates shuffle from the identity, so the batch depends on the rng alone
    // (modulo: its bias, below N / 2^64, is far under any statistical effect).
    std::iota(order_.begin(), order_.end(), Index(0));
    for (Index i = 0; i < batch_size_; ++i)
      std::swap(order_[std::size_t(i)],
                order_[std::size_t(i + Index(rng_() % std::uint64_t(n - i)))]);
  }
  if (batch_size_ < n || sde_) use_batch();
  // Every rank takes part in the gather even when a solve of its own failed: a failure flag
  // in each chunk's first slot lets all of them throw together instead of waiting.
  std::string failure;
  for (std::size_t c = 0; c < problems_.size(); ++c) {
    GradientProblem<double>& problem = *problems_[c];
    auto slot = mine_.segment(Index(c) * values, values);
    slot.setZero();
    if (!failure.empty()) continue;
    problem.theta = theta_;
    GradientResult<double> result;
    try {
      result = parallel_gradient(*method_, problem, *executor_);
    } catch (const std::exception& e) {  // any failure (bad_alloc too): a rank that left
      failure = e.what();                 // without gathering would hang the others
      if (failure.empty()) failure = "the gradient failed";
      slot[0] = 1;
      continue;
    }
    const auto [begin, end] = chunk(first_chunk_ + Index(c));
    const double weight = double(end - begin) / double(batch_size_);  // 1 for one chunk
    slot[1] = weight * result.loss;
    slot.tail(params) = weight * result.grad_params;
    last_stats_ = result.stats;
  }
  comm_->all_gather(mine_, all_, counts_);
  if (!failure.empty()) throw Error(fmt::format("iteration {}: {}", iteration_ + 1, failure));
  // The chunks' sum, in chunk order: the same bits on every rank and for every rank count.
  gradient_ = all_.head(values);
  for (Index c = 1; c < settings_.batch_chunks; ++c) gradient_ += all_.segment(c * values, values);
  require(gradient_[0] == 0,
          "iteration {}: a solve failed on another rank (that rank reports it)", iteration_ + 1);
  const double loss = gradient_[1];
  auto grad = gradient_.tail(params);
  require(std::isfinite(loss) && grad.allFinite(),
          "iteration {}: the loss is {} and the gradient {} finite: training diverged; lower "
          "--lr or add --clip",
          iteration_ + 1, loss, grad.allFinite() ? "is" : "is not");
  last_grad_norm_ = clip_global_norm(grad, settings_.clip);
  last_lr_ = settings_.schedule_spec().at(iteration_);
  optimizer_.step(last_lr_, theta_, grad);  // θ in place
  losses_.push_back(loss);
  ++iteration_;
  return loss;
}

void Trainer::run(const ProgressCallback& progress, const CheckpointOptions& checkpoint) {
  validate(checkpoint);
  const auto start = std::chrono::steady_clock::now();
  const Index first = iteration_;
  double best = best_loss();
  while (iteration_ < settings_.iterations) {
    const double loss = step();
    best = std::min(best, loss);
    const bool last = iteration_ == settings_.iterations;
    if (!checkpoint.path.empty() && comm_->rank() == 0 &&
        (last || (checkpoint.every > 0 && iteration_ % checkpoint.every == 0)))
      save_checkpoint(checkpoint.path, *this);
    if (progress) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      progress(TrainProgress{iteration_, settings_.iterations, loss, best, last_lr_,
                             last_grad_norm_, seconds, iteration_ - first});
    }
  }
}

Batch<double> Trainer::predict(Index trajectory) const {
  require(trajectory >= 0 && trajectory < dataset_.trajectories(),
          "trajectory {}; dataset '{}' has 0 … {}", trajectory, dataset_.name,
          dataset_.trajectories() - 1);
  const Batch<double> y0 = dataset_.trajectory(trajectory).col(0);
  const std::unique_ptr<VectorField<double>> own = columns_ ? columns_({trajectory}) : nullptr;
  const Solution<double> solution =
      solve<double>(own ? *own : field(), *stepper_, settings_.control, data_save_at(settings_, dataset_),
                    dataset_.times.front(), dataset_.times.back(), y0, theta_);
  Batch<double> out(dataset_.dim(), Index(solution.ys.size()));
  for (Index k = 0; k < out.cols(); ++k) out.col(k) = solution.ys[std::size_t(k)].col(0);
  return out;
}

}  // namespace revode
