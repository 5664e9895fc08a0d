/// `revode deq train`: trains a DEQ classifier (deq/classifier.hpp) on nested spirals with each
/// requested gradient method (reversible, implicit, backprop) from the same seed, and compares
/// accuracy, function evaluations, time and memory. Full-batch AdamW with cosine decay.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "revode/core/error.hpp"
#include "revode/deq/classifier.hpp"
#include "revode/train/adam.hpp"
#include "revode/train/lr_schedule.hpp"

namespace revode::cli {
namespace {

struct DeqTrainOptions {
  std::string methods = "reversible,implicit,backprop";
  std::string solver = "auto";
  double beta = 0.5;
  double tol = 1e-4;
  Index max_steps = 30;
  Index iterations = 500;
  std::uint64_t seed = 0;
  Index state_dim = 16;
  std::vector<Index> hidden{32};
  double contraction = 0.5;
  double max_lipschitz = 0.9;  // +inf: no projection
  Index check_every = 25;      // 0: never compare with backprop
  double lr = 3e-2;
  int classes = 3;
  Index points = 200;  // per class
  double turns = 1.0, noise = 0.04;
  std::string dtype = "float64";
  std::string guard = "repair";
  bool json = false;
};

/// One method's run: what the comparison table shows.
struct RunReport {
  std::string method, solver;
  double train_loss = 0, train_accuracy = 0, test_accuracy = 0;
  double mean_iterations = 0;  // forward fixed-point iterations per training step
  double forward_nfe = 0, backward_nfe = 0, nvjp = 0;  // per training step
  Index stored_floats = 0;                             // peak over the run
  double reconstruction_error = 0;                     // max over the run
  Index guard_repairs = 0, guard_flags = 0;  // training steps the guard repaired / flagged
  double gradient_error = 0;   // max ‖g − g_backprop‖ / ‖g_backprop‖ over the checks
  double lipschitz_bound = 0;  // of the trained f
  double seconds = 0;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');)
    if (!item.empty()) out.push_back(item);
  require(!out.empty(), "--method '{}': expected a comma-separated list of gradient methods", text);
  return out;
}

DeqOptions deq_options(const DeqTrainOptions& o, DeqGradient gradient) {
  DeqOptions d;
  d.gradient = gradient;
  d.solver = o.solver != "auto"                  ? parse_fixed_point_solver(o.solver)
             : gradient == DeqGradient::implicit ? FixedPointSolver::plain
                                                 : FixedPointSolver::reversible;
  d.beta = o.beta, d.tol = o.tol, d.max_steps = o.max_steps;
  d.guard.policy = parse_guard_policy(o.guard);
  validate(d);
  return d;
}

template <class T>
RunReport train_one(const DeqTrainOptions& o, DeqGradient gradient, const LabelledPoints& train,
                    const LabelledPoints& test) {
  const DeqOptions options = deq_options(o, gradient);
  const DeqClassifier<T> model({o.state_dim, 2, o.hidden}, o.classes);
  Vector<double> theta = model.init_params(o.seed, o.contraction).template cast<double>();
  Adam adam({.kind = OptimizerKind::adamw}, theta.size());
  const LrSchedule schedule{ScheduleKind::cosine, o.lr, 0.1 * o.lr, o.iterations};
  const Batch<T> x = train.x.template cast<T>(), x_test = test.x.template cast<T>();
  RunReport r{std::string(gradient_name(gradient)), std::string(solver_name(options.solver))};
  DeqOptions reference = options;  // backprop through the same iteration
  reference.gradient = DeqGradient::backprop;
  double check_seconds = 0;
  const auto start = std::chrono::steady_clock::now();
  for (Index it = 0; it < o.iterations; ++it) {
    const Vector<T> theta_t = theta.template cast<T>();
    const auto step = model.loss_and_gradient(x, train.labels, theta_t, options);
    require(std::isfinite(step.loss) && all_finite(step.grad),
            "deq train ({}): the loss or gradient is not finite at iteration {}", r.method, it);
    r.mean_iterations += double(step.stats.iterations);
    r.forward_nfe += double(step.stats.nfe);
    r.backward_nfe += double(step.stats.backward_nfe);
    r.nvjp += double(step.stats.nvjp);
    r.stored_floats = std::max(r.stored_floats, step.stats.stored_floats);
    r.reconstruction_error = std::max(r.reconstruction_error, step.stats.reconstruction_error);
    r.guard_repairs += step.stats.guard.repaired ? 1 : 0;
    r.guard_flags += step.stats.guard.flagged ? 1 : 0;
    if (o.check_every > 0 && gradient != DeqGradient::backprop && it % o.check_every == 0) {
      const auto check_start = std::chrono::steady_clock::now();
      const Vector<double> exact =
          model.loss_and_gradient(x, train.labels, theta_t, reference).grad.template cast<double>();
      const double error = (step.grad.template cast<double>() - exact).norm() / exact.norm();
      r.gradient_error = std::max(r.gradient_error, error);
      check_seconds += seconds_since(check_start);
    }
    adam.step(schedule.at(it), theta, step.grad.template cast<double>());
    if (std::isfinite(o.max_lipschitz))
      model.layer().limit_lipschitz(theta.head(model.layer().param_count()), o.max_lipschitz);
  }
  r.seconds = seconds_since(start) - check_seconds;
  for (double* per_step : {&r.mean_iterations, &r.forward_nfe, &r.backward_nfe, &r.nvjp})
    *per_step /= double(o.iterations);
  const Vector<T> final_theta = theta.template cast<T>();
  const auto on_train = model.evaluate(x, train.labels, final_theta, options);
  r.train_loss = on_train.loss;
  r.train_accuracy = on_train.accuracy;
  r.test_accuracy = model.evaluate(x_test, test.labels, final_theta, options).accuracy;
  r.lipschitz_bound = model.layer().lipschitz_bound(final_theta.head(model.layer().param_count()));
  return r;
}

nlohmann::ordered_json report_json(const RunReport& r) {
  return {{"method", r.method},
          {"solver", r.solver},
          {"train_loss", r.train_loss},
          {"train_accuracy", r.train_accuracy},
          {"test_accuracy", r.test_accuracy},
          {"mean_fixed_point_iterations", r.mean_iterations},
          {"forward_nfe_per_step", r.forward_nfe},
          {"backward_nfe_per_step", r.backward_nfe},
          {"nvjp_per_step", r.nvjp},
          {"stored_floats", r.stored_floats},
          {"max_reconstruction_error", r.reconstruction_error},
          {"guard_repaired_steps", r.guard_repairs},
          {"guard_flagged_steps", r.guard_flags},
          {"max_gradient_error_vs_backprop", r.gradient_error},
          {"lipschitz_bound", r.lipschitz_bound},
          {"seconds", r.seconds}};
}

template <class T>
void run_deq_train(const DeqTrainOptions& o) {
  require(o.iterations >= 1, "--iterations {}: required >= 1", o.iterations);
  require(o.lr > 0, "--lr {}: required > 0", o.lr);
  require(o.check_every >= 0, "--check-every {}: required >= 0", o.check_every);
  require((o.max_lipschitz > 0 && o.max_lipschitz < 1) ||
              o.max_lipschitz == std::numeric_limits<double>::infinity(),
          "--max-lipschitz {}: required in (0, 1), or inf for no projection", o.max_lipschitz);
  std::vector<DeqGradient> gradients;
  for (const std::string& name : split_list(o.methods)) {
    gradients.push_back(parse_deq_gradient(name));
    deq_options(o, gradients.back());  // every combination checked before any training
  }
  const LabelledPoints train = make_spirals(o.classes, o.points, o.turns, o.noise, o.seed);
  const LabelledPoints test = make_spirals(o.classes, o.points, o.turns, o.noise, o.seed + 1);
  std::vector<RunReport> reports;
  for (const DeqGradient g : gradients) reports.push_back(train_one<T>(o, g, train, test));

  const std::string model = fmt::format("deq:{},2:{}", o.state_dim, fmt::join(o.hidden, ","));
  if (o.json) {
    nlohmann::ordered_json j{{"task", fmt::format("spirals, {} classes × {} points, {} turns, "
                                                  "noise {}",
                                                  o.classes, o.points, o.turns, o.noise)},
                             {"model", model},
                             {"dtype", o.dtype},
                             {"beta", o.beta},
                             {"tol", o.tol},
                             {"max_steps", o.max_steps},
                             {"iterations", o.iterations},
                             {"seed", o.seed},
                             {"runs", nlohmann::ordered_json::array()}};
    for (const RunReport& r : reports) j["runs"].push_back(report_json(r));
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print(
      "{} on spirals ({} classes × {} points), {}, beta {}, tol {}, max_steps {}, {} "
      "AdamW iterations\n",
      model, o.classes, o.points, o.dtype, o.beta, o.tol, o.max_steps, o.iterations);
  fmt::print("{:<11} {:<10} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9} {:>8} {:>8} {:>8}\n",
             "method", "solver", "train", "test", "iters", "fwd-nfe", "bwd-nfe", "vjp", "floats",
             "recon", "grad-err", "seconds");
  for (const RunReport& r : reports)
    fmt::print(
        "{:<11} {:<10} {:>6.3f} {:>6.3f} {:>7.2f} {:>7.2f} {:>7.2f} {:>7.2f} {:>9} "
        "{:>8.1e} {:>8.1e} {:>8.2f}\n",
        r.method, r.solver, r.train_accuracy, r.test_accuracy, r.mean_iterations, r.forward_nfe,
        r.backward_nfe, r.nvjp, r.stored_floats, r.reconstruction_error, r.gradient_error,
        r.seconds);
  for (const RunReport& r : reports)
    if (r.guard_repairs + r.guard_flags > 0)
      fmt::print(stderr,
                 "warning: reversible guard ({}): the rebuilt iterates drifted past the tolerance "
                 "in {} training steps; {} repaired, {} flagged (--reversible-guard)\n",
                 r.method, r.guard_repairs + r.guard_flags, r.guard_repairs, r.guard_flags);
}

}  // namespace

void add_deq_command(CLI::App& app) {
  auto o = std::make_shared<DeqTrainOptions>();
  CLI::App* deq = app.add_subcommand("deq", "Deep equilibrium models (reversible DEQs)");
  deq->require_subcommand(1);
  CLI::App* cmd = deq->add_subcommand(
      "train", "Train a DEQ classifier on nested spirals with each gradient method and compare");
  cmd->add_option("--method", o->methods,
                  "Comma-separated gradient methods: reversible, implicit, backprop")
      ->capture_default_str();
  cmd->add_option("--solver", o->solver,
                  "Forward iteration: plain, reversible, or auto (plain for implicit, reversible "
                  "otherwise)")
      ->capture_default_str();
  cmd->add_option("--beta", o->beta, "Reversible iteration's β in (0, 2), β ≠ 1")
      ->capture_default_str();
  cmd->add_option("--reversible-guard", o->guard,
                  "reversible gradient: repair, error or warn when the rebuilt iterates drift")
      ->capture_default_str();
  cmd->add_option("--tol", o->tol, "Stop when ‖z − f(z)‖ < tol·‖f(z)‖ + 1e-8")
      ->capture_default_str();
  cmd->add_option("--max-steps", o->max_steps, "Fixed-point iterations at most")
      ->capture_default_str();
  cmd->add_option("--iterations", o->iterations, "Training iterations (full batch)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the data and the initial parameters")
      ->capture_default_str();
  cmd->add_option("--state-dim", o->state_dim, "Dimension of z")->capture_default_str();
  cmd->add_option("--hidden", o->hidden, "Hidden widths of f, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--contraction", o->contraction, "Initial Lipschitz bound of f in z, in (0, 1)")
      ->capture_default_str();
  cmd->add_option("--max-lipschitz", o->max_lipschitz,
                  "After each step, scale W_z so f stays a contraction with this bound (inf: off)")
      ->capture_default_str();
  cmd->add_option("--check-every", o->check_every,
                  "Every this many steps, compare the gradient with backprop's (0: never; the "
                  "check is not timed)")
      ->capture_default_str();
  cmd->add_option("--lr", o->lr, "Peak learning rate (cosine decay to lr/10)")
      ->capture_default_str();
  cmd->add_option("--classes", o->classes, "Spiral arms (classes)")->capture_default_str();
  cmd->add_option("--points", o->points, "Training points per class")->capture_default_str();
  cmd->add_option("--turns", o->turns, "Turns of each arm")->capture_default_str();
  cmd->add_option("--noise", o->noise, "Standard deviation of the noise")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "float64 or float32")
      ->check(CLI::IsMember({"float64", "float32"}))
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o] {
    if (o->dtype == "float32")
      run_deq_train<float>(*o);
    else
      run_deq_train<double>(*o);
  });
}

}  // namespace revode::cli
