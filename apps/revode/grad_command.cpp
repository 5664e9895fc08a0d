/// `revode grad`: the loss on the saved states and its exact gradient with respect to θ and y0
/// from one gradient method, printed as a summary or as JSON.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>
#include <optional>

#include "commands.hpp"
#include "data_file.hpp"
#include "json_output.hpp"
#include "problem_options.hpp"
#include "revode/core/allocation_limit.hpp"
#include "revode/core/status.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/parallel/parallel_gradient.hpp"

namespace revode::cli {
namespace {

constexpr std::string_view mse_data_prefix = "mse-data:";

struct GradOptions {
  ProblemOptions problem;
  std::string method = "backprop";
  std::string loss = "mse-zero";
  std::string guard = "repair";
  double guard_tolerance = 0;
};

/// The save times known before solving: explicit ones, or every step of a fixed grid (the
/// same arithmetic as the integration loop); none for adaptive steps with `--saveat steps`.
template <class T>
std::optional<std::vector<double>> planned_save_times(const Problem<T>& p) {
  if (!p.save_at.steps) return p.save_at.ts;
  const auto* fixed = std::get_if<FixedSteps>(&p.control);
  if (fixed == nullptr) return std::nullopt;
  require_memory("--steps (with --saveat steps)", fixed->steps,
                 {fixed->steps, Index(sizeof(double))});  // (+ 1: t0, negligible)
  std::vector<double> ts{p.t0};
  const double h = (p.t1 - p.t0) / double(fixed->steps);
  for (Index n = 1; n <= fixed->steps; ++n)
    ts.push_back(n == fixed->steps ? p.t1 : p.t0 + double(n) * h);
  return ts;
}

/// The loss `spec` names; for mse-data, reads the file into `data` and checks its times.
template <class T>
std::unique_ptr<Loss<T>> make_loss(const std::string& spec, const Problem<T>& p,
                                   std::optional<DataFile<T>>& data) {
  if (spec == "mse-zero") return std::make_unique<MseZero<T>>();
  require(spec.starts_with(mse_data_prefix) && spec.size() > mse_data_prefix.size(),
          "--loss '{}': expected mse-zero or mse-data:FILE", spec);
  data = read_data_file<T>(spec.substr(mse_data_prefix.size()), p.field->state_dim(), p.y0.cols());
  if (const auto ts = planned_save_times(p)) check_data_times(*data, *ts, p.t0, p.t1);
  return std::make_unique<MseData<T>>(data->blocks);
}

/// Runs the method. The loss itself only learns that the data and the saves disagree in count
/// while solving (adaptive `--saveat steps`), and knows no file name: add it.
template <class T>
GradientResult<T> compute_naming_data(const GradientMethod<T>& method,
                                      const GradientProblem<T>& problem,
                                      const std::optional<DataFile<T>>& data, Executor& executor,
                                      const ParallelOptions& parallel) {
  try {
    return parallel_gradient(method, problem, executor, parallel);
  } catch (const SolveError&) {
    throw;
  } catch (const Error& e) {
    if (!data || !std::string_view(e.what()).starts_with("mse-data")) throw;
    throw Error(
        fmt::format("{} (data file '{}'; use --saveat to match its times)", e.what(), data->path));
  }
}

/// A finite loss is no guarantee of a finite gradient (the backward pass can overflow alone).
template <class T>
void require_finite(const GradientResult<T>& r) {
  require(std::isfinite(r.loss),
          "the loss is {}: the saved states overflow when squared in {}; use float64 or a smaller "
          "y0, time span or parameters",
          r.loss, dtype_name<T>());
  require(all_finite(r.grad_params) && all_finite(r.grad_y0),
          "the gradient contains NaN or Inf (the loss is {}): the backward pass overflowed in {}",
          r.loss, dtype_name<T>());
}

template <class T>
void print_result(const Problem<T>& p, const GradOptions& o, const GradientResult<T>& r,
                  double seconds) {
  fmt::print("{} with {} ({}), t = {} … {}, batch {}; {} of {}\n", p.field->name(),
             p.stepper->name(), dtype_name<T>(), p.t0, p.t1, p.y0.cols(), o.method, o.loss);
  fmt::print("loss:         {:.10g} ({} saves)\n", r.loss, r.ts.size());
  fmt::print("grad norm:    {:.10g} ({} parameters)\n",
             r.grad_params.template cast<double>().norm(), r.grad_params.size());
  fmt::print("grad y0 norm: {:.10g}\n", r.grad_y0.template cast<double>().norm());
  fmt::print("stats: {}\nseconds: {:.6f}\n", r.stats.brief(), seconds);
}

template <class T>
int run_grad(const GradOptions& o) {
  const Problem<T> p = build_problem<T>(o.problem);
  const ReversibleGuard guard{.policy = parse_guard_policy(o.guard), .tolerance = o.guard_tolerance};
  guard.validate();
  const auto method = make_gradient_method<T>(o.method, guard);
  std::optional<DataFile<T>> data;
  const auto loss = make_loss<T>(o.loss, p, data);
  const GradientProblem<T> problem{*p.field, *p.stepper, p.control, p.save_at, p.t0,
                                   p.t1,     p.y0,       p.theta,   *loss};
  Executor executor(o.problem.threads);
  const auto start = std::chrono::steady_clock::now();
  const GradientResult<T> result = compute_naming_data(
      *method, problem, data, executor, {.per_sample_steps = o.problem.per_sample_steps});
  const double seconds = seconds_since(start);
  if (data) check_data_times(*data, result.ts, p.t0, p.t1);
  require_finite(result);
  warn_about_guard(result.stats.guard);
  warn_about_recomputation(method->name(), result.stats);
  if (o.problem.json)
    fmt::print("{}\n", grad_json(p, method->name(), o.loss, result, seconds).dump());
  else
    print_result(p, o, result, seconds);
  return 0;
}

}  // namespace

void add_grad_command(CLI::App& app) {
  // Shared with the callback, which runs after parsing, when `app` is still alive.
  auto options = std::make_shared<GradOptions>();
  CLI::App* command = app.add_subcommand(
      "grad", "The loss on the saved states and its exact gradient with respect to θ and y0.");
  add_problem_options(*command, options->problem);
  command
      ->add_option("--method", options->method,
                   fmt::format("gradient method: {}", fmt::join(gradient_method_names(), ", ")))
      ->capture_default_str();
  command
      ->add_option("--loss", options->loss,
                   "mse-zero (mean square of the saved states) or mse-data:FILE (mean squared "
                   "error against FILE: one row per save time, comma or whitespace separated, "
                   "the time then dim values broadcast over the batch or dim × batch values "
                   "with sample 0's state first; '#' lines are comments; see docs/cli.md)")
      ->capture_default_str();
  command
      ->add_option("--reversible-guard", options->guard,
                   "what reversible backprop does when its reconstruction drifts beyond the "
                   "tolerance: repair (recompute the drifting segments; exact, more memory), "
                   "error (refuse, exit 2) or warn (return it, flagged)")
      ->capture_default_str();
  command
      ->add_option("--guard-tolerance", options->guard_tolerance,
                   "relative reconstruction error the guard accepts, the drift times ȳ0's "
                   "cancellation (0: 1e-10 in float64, 1e-4 in float32)")
      ->capture_default_str();
  command->callback([options] {
    dispatch_dtype(options->problem.dtype, [&]<class T>() { return run_grad<T>(*options); });
  });
}

}  // namespace revode::cli
