/// The training loop (see the header): setup once, then gradient, clip, update.
#include "revode/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "revode/core/allocation_limit.hpp"
#include "revode/core/error.hpp"
#include "revode/core/status.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/train/checkpoint.hpp"
#include "revode/train/gradient_clipping.hpp"

namespace revode {
namespace {

/// The settings, checked on their own and against the data, before anything is built.
TrainSettings checked(TrainSettings s, const Dataset& d) {
  validate(s);
  require(d.points() >= 2 && Index(d.times.size()) == d.points(),
          "dataset '{}' has {} times and {} states; expected equal counts >= 2", d.name,
          d.times.size(), d.points());
  require(s.model.widths.front() == d.dim(),
          "the model's widths start at {}, but dataset '{}' has {} state columns; the first "
          "and last width must be the state dimension",
          s.model.widths.front(), d.name, d.dim());
  // The loss history holds one double per iteration (reserved up front).
  require_memory("iterations", s.iterations, {s.iterations, Index(sizeof(double))});
  return s;
}

std::vector<Batch<double>> data_columns(const Dataset& d) {
  std::vector<Batch<double>> columns;
  columns.reserve(std::size_t(d.points()));
  for (Index k = 0; k < d.points(); ++k) columns.emplace_back(d.states.col(k));
  return columns;
}

SaveAt data_save_at(const TrainSettings& s, const Dataset& d) {
  SaveAt save_at;
  save_at.ts = d.times;
  save_at.dense = s.dense;
  return save_at;
}

bool same_bits(const Vector<double>& a, const Vector<double>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), std::size_t(a.size()) * sizeof(double)) == 0;
}

}  // namespace

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

Trainer::Trainer(Dataset dataset, TrainSettings settings)
    : dataset_(std::move(dataset)),
      settings_(checked(std::move(settings), dataset_)),
      solver_name_(effective_solver(settings_)),
      model_(settings_.model),
      stepper_(make_stepper<double>(solver_name_, SolverOptions{settings_.coupling, 1.0})),
      method_(make_gradient_method<double>(
          settings_.method, {.policy = parse_guard_policy(settings_.reversible_guard)})),
      loss_(std::make_unique<MseData<double>>(data_columns(dataset_))),
      problem_(std::make_unique<GradientProblem<double>>(GradientProblem<double>{
          model_, *stepper_, settings_.control, data_save_at(settings_, dataset_),
          dataset_.times.front(), dataset_.times.back(), dataset_.states.col(0),
          model_.init_params(settings_.init, settings_.seed), *loss_})),
      optimizer_(settings_.optimizer, model_.param_count()),
      rng_(settings_.seed) {
  losses_.reserve(std::size_t(settings_.iterations));
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
  return TrainState{problem_->theta, optimizer_.state(), rng_, iteration_, losses_};
}

void Trainer::restore(const TrainState& state) {
  require(state.params.size() == model_.param_count(),
          "the saved state has {} parameters; model {} has {}", state.params.size(),
          model_.name(), model_.param_count());
  require(state.params.allFinite(), "the saved parameters contain NaN or Inf");
  require(state.iteration >= 0 && state.iteration <= settings_.iterations &&
              Index(state.losses.size()) == state.iteration,
          "the saved state is at iteration {} with {} losses; expected 0 … {} with one loss per "
          "iteration",
          state.iteration, state.losses.size(), settings_.iterations);
  optimizer_.restore(state.optimizer);
  problem_->theta = state.params;
  rng_ = state.rng;
  iteration_ = state.iteration;
  losses_ = state.losses;
  losses_.reserve(std::size_t(settings_.iterations));
}

double Trainer::step() {
  GradientResult<double> result;
  try {
    result = method_->compute(*problem_);
  } catch (const SolveError& e) {
    throw Error(fmt::format("iteration {}: {}", iteration_ + 1, e.what()));
  }
  require(std::isfinite(result.loss) && result.grad_params.allFinite(),
          "iteration {}: the loss is {} and the gradient {} finite: training diverged; lower "
          "--lr or add --clip",
          iteration_ + 1, result.loss, result.grad_params.allFinite() ? "is" : "is not");
  last_grad_norm_ = clip_global_norm(result.grad_params, settings_.clip);
  last_lr_ = settings_.schedule_spec().at(iteration_);
  optimizer_.step(last_lr_, problem_->theta, result.grad_params);  // θ in place
  losses_.push_back(result.loss);
  ++iteration_;
  last_stats_ = result.stats;
  return result.loss;
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
    if (!checkpoint.path.empty() &&
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

Batch<double> Trainer::predict() const {
  const Solution<double> solution =
      solve<double>(model_, *stepper_, settings_.control, problem_->save_at,
                    problem_->t0, problem_->t1, problem_->y0, problem_->theta);
  Batch<double> out(dataset_.dim(), Index(solution.ys.size()));
  for (Index k = 0; k < out.cols(); ++k) out.col(k) = solution.ys[std::size_t(k)].col(0);
  return out;
}

}  // namespace revode
