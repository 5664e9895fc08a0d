// Does higher order win when high accuracy is required? Learning the Kepler problem and a
// 3-atom Lennard-Jones cluster from trajectories with an MLP vector field and reversible
// backprop, at matched solver accuracy, with the order-4 and order-6 compositions of the
// asynchronous leapfrog (alf-yoshida4, alf-yoshida6), plain ALF (order 2) and McCallum–Foster
// over rk4 / dopri5. Writes one CSV row per training run (README, "Higher-order reversible
// compositions"; plotted by scripts/plot_compositions.py).
//
// Protocol, per problem: (1) data = the true field's trajectories at K save times (dopri5,
// tolerance 1e-12); (2) pre-training from a random θ0: `pretrain` Adam steps with dopri5 at
// tolerance 1e-10 (direct backprop) give θ*, a model with the problem's dynamics; (3) for every
// solver and target accuracy ε, the cheapest setting (fixed: fewest steps; adaptive: loosest
// rtol = atol on a half-decade grid) whose solve of θ* is within ε of its exact flow (relative
// max error over all saves); (4) per (solver, ε), `iterations` more Adam steps from θ* with
// reversible backprop, recording evaluations, wall time, the gradient method's peak memory, the
// final loss and the accuracy the solver actually reached on its own final model.
//
// Usage: compositions_experiment [out.csv] [iterations = 20] [pretrain = 300]
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "revode/fields/kepler.hpp"
#include "revode/fields/lennard_jones.hpp"
#include "revode/gradients/direct_backprop.hpp"
#include "revode/gradients/reversible_backprop.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/train/adam.hpp"

namespace {

using namespace revode;

struct Problem {
  std::string name;
  std::unique_ptr<VectorField<double>> truth;
  Vector<double> truth_params;
  Batch<double> y0;  // state_dim × batch
  double t1;
  Mlp<double> model;
  std::vector<Batch<double>> data;
  SaveAt save;
};

constexpr Index kSaves = 11;

Problem make_problem(std::string name, std::unique_ptr<VectorField<double>> truth,
                     Batch<double> y0, double t1, const char* widths) {
  Problem p{std::move(name), std::move(truth), {}, std::move(y0), t1,
            Mlp<double>(parse_mlp_spec(widths)), {}, SaveAt::linspace(0.0, t1, kSaves)};
  p.truth_params = Vector<double>::Ones(p.truth->param_count());
  const auto dopri5 = make_stepper<double>("dopri5");
  p.data = solve<double>(*p.truth, *dopri5, AdaptiveSteps{.rtol = 1e-12, .atol = 1e-12}, p.save,
                         0.0, t1, p.y0, p.truth_params)
               .ys;
  return p;
}

/// Eight orbits of eccentricity 0.05 … 0.4 at spread phases; a third of a period.
Problem kepler_problem() {
  Batch<double> y0(4, 8);
  for (Index j = 0; j < 8; ++j)
    y0.col(j) = kepler_eccentric_orbit(0.9 * double(j), 0.05 + 0.05 * double(j));
  return make_problem("kepler", std::make_unique<KeplerField<double>>(), std::move(y0), 2.0,
                      "4,32,32,4");
}

/// Eight 3-atom triangles near equilibrium (side 2^(1/6)) with random displacements and
/// velocities of zero total momentum.
Problem lennard_jones_problem() {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  const double side = std::pow(2.0, 1.0 / 6.0);
  const double base[6] = {0.0, 0.0, side, 0.0, side / 2, side * std::sqrt(3.0) / 2};
  Batch<double> y0(12, 8);
  for (Index j = 0; j < 8; ++j) {
    for (int i = 0; i < 6; ++i) y0(i, j) = base[i] + 0.05 * u(rng);
    for (int i = 6; i < 12; ++i) y0(i, j) = 0.15 * u(rng);
    for (int c = 0; c < 2; ++c) {  // zero total momentum
      const double mean = (y0(6 + c, j) + y0(8 + c, j) + y0(10 + c, j)) / 3;
      for (int a = 0; a < 3; ++a) y0(6 + 2 * a + c, j) -= mean;
    }
  }
  return make_problem("lennard-jones", std::make_unique<LennardJonesField<double>>(3),
                      std::move(y0), 3.0, "12,48,48,12");
}

/// Relative max error of `stepper` under `control` against the model's exact flow `exact`.
double solve_error(const Problem& p, const Vector<double>& theta, const Stepper<double>& stepper,
                   const StepControl& control, const std::vector<Batch<double>>& exact) {
  try {
    const auto sol = solve<double>(p.model, stepper, control, p.save, 0.0, p.t1, p.y0, theta);
    double err = 0, scale = 0;
    for (std::size_t k = 0; k < exact.size(); ++k) {
      err = std::max(err, (sol.ys[k] - exact[k]).cwiseAbs().maxCoeff());
      scale = std::max(scale, exact[k].cwiseAbs().maxCoeff());
    }
    return err / scale;
  } catch (const Error&) {
    return INFINITY;  // max_steps or a blow-up: not accurate enough
  }
}

std::vector<Batch<double>> exact_flow(const Problem& p, const Vector<double>& theta) {
  const auto dopri5 = make_stepper<double>("dopri5");
  return solve<double>(p.model, *dopri5, AdaptiveSteps{.rtol = 1e-13, .atol = 1e-13}, p.save,
                       0.0, p.t1, p.y0, theta)
      .ys;
}

/// The cheapest control reaching accuracy eps on θ*, or nullopt beyond the caps.
std::optional<StepControl> calibrate(const Problem& p, const Vector<double>& theta,
                                     const Stepper<double>& stepper, bool adaptive, double eps,
                                     const std::vector<Batch<double>>& exact) {
  if (adaptive) {
    for (int k = 0; k <= 24; ++k) {
      const double tol = 1e-2 * std::pow(10.0, -0.5 * k);
      const AdaptiveSteps a{.rtol = tol, .atol = tol, .max_steps = 100000};
      if (solve_error(p, theta, stepper, a, exact) <= eps) return a;
    }
    return std::nullopt;
  }
  const Index cap = 40000;
  Index hi = 4;
  while (solve_error(p, theta, stepper, FixedSteps{hi}, exact) > eps)
    if ((hi *= 2) > cap) return std::nullopt;
  Index lo = hi / 2;  // err(lo) > eps (or lo below the first try): bisect on (lo, hi]
  while (hi - lo > std::max<Index>(1, hi / 32)) {
    const Index mid = (lo + hi) / 2;
    (solve_error(p, theta, stepper, FixedSteps{mid}, exact) <= eps ? hi : lo) = mid;
  }
  return FixedSteps{hi};
}

struct RunResult {
  double nfe = 0, nvjp = 0, steps = 0, loss = 0, seconds = 0;
  Index stored_floats = 0;
  Vector<double> theta;
};

/// `iterations` Adam steps from θ0; means per iteration, peak memory, wall time.
RunResult train(const Problem& p, const Stepper<double>& stepper, const StepControl& control,
                const GradientMethod<double>& method, const Vector<double>& theta0,
                int iterations) {
  MseData<double> loss(p.data);
  Adam adam({.kind = OptimizerKind::adam}, theta0.size());
  RunResult r{.theta = theta0};
  const auto start = std::chrono::steady_clock::now();
  for (int it = 0; it < iterations; ++it) {
    const GradientProblem<double> gp{p.model, stepper, control, p.save, 0.0,
                                     p.t1,    p.y0,    r.theta, loss};
    const auto g = method.compute(gp);
    r.nfe += double(g.stats.nfe) / iterations;
    r.nvjp += double(g.stats.nvjp) / iterations;
    r.steps += double(g.stats.steps) / iterations;
    r.stored_floats = std::max(r.stored_floats, g.stats.stored_floats);
    r.loss = g.loss;
    adam.step(3e-3, r.theta, g.grad_params);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

std::string describe(const StepControl& c) {
  if (const auto* f = std::get_if<FixedSteps>(&c)) return fmt::format("{}", f->steps);
  return fmt::format("{:.1e}", std::get<AdaptiveSteps>(c).rtol);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string out_path = argc > 1 ? argv[1] : "compositions.csv";
  const int iterations = argc > 2 ? std::stoi(argv[2]) : 20;
  const int pretrain = argc > 3 ? std::stoi(argv[3]) : 300;
  std::FILE* out = std::fopen(out_path.c_str(), "w");
  if (out == nullptr) {
    fmt::print(stderr, "cannot write {}\n", out_path);
    return 1;
  }
  std::fprintf(out,
               "problem,solver,order,mode,target,setting,steps,nfe_per_iter,nvjp_per_iter,"
               "wall_s,memory_bytes,final_loss,reached_error\n");
  const std::vector<std::string> solvers{"alf", "alf-yoshida4", "alf-yoshida6", "reversible:rk4",
                                         "reversible:dopri5"};
  const std::vector<double> targets{1e-3, 1e-5, 1e-7, 1e-9, 1e-11};
  const ReversibleBackprop<double> reversible;
  for (auto make_problem_fn : {&kepler_problem, &lennard_jones_problem}) {
    const Problem p = make_problem_fn();
    const auto dopri5 = make_stepper<double>("dopri5");
    const RunResult reference = train(p, *dopri5, AdaptiveSteps{.rtol = 1e-10, .atol = 1e-10},
                                      DirectBackprop<double>(),
                                      p.model.init_params(Init::pytorch_default, 1), pretrain);
    const Vector<double>& theta_star = reference.theta;
    const auto exact = exact_flow(p, theta_star);
    fmt::print("{}: pre-trained loss {:.3e} after {} iterations ({:.1f} s, {:.0f} steps)\n",
               p.name, reference.loss, pretrain, reference.seconds, reference.steps);
    for (const auto& name : solvers)
      for (bool adaptive : {false, true}) {
        const auto stepper = make_stepper<double>(name);
        if (adaptive && stepper->error_order() == 0) continue;
        for (double eps : targets) {
          const auto control = calibrate(p, theta_star, *stepper, adaptive, eps, exact);
          const char* mode = adaptive ? "adaptive" : "fixed";
          if (!control) {
            fmt::print("  {:18} {:8} eps {:.0e}: not reached within the caps\n", name, mode, eps);
            continue;
          }
          const RunResult r = train(p, *stepper, *control, reversible, theta_star, iterations);
          const double reached = solve_error(p, r.theta, *stepper, *control, exact_flow(p, r.theta));
          std::fprintf(out, "%s,%s,%d,%s,%.0e,%s,%.1f,%.1f,%.1f,%.4f,%lld,%.6e,%.3e\n",
                       p.name.c_str(), name.c_str(), stepper->order(), mode, eps,
                       describe(*control).c_str(), r.steps, r.nfe, r.nvjp, r.seconds,
                       (long long)(8 * r.stored_floats), r.loss, reached);
          std::fflush(out);
          fmt::print("  {:18} {:8} eps {:.0e}: {:>7} steps {:7.1f} nfe/it {:8.1f} {:6.2f} s "
                     "mem {:6} B loss {:.4e} reached {:.1e}\n",
                     name, mode, eps, describe(*control), r.steps, r.nfe, r.seconds,
                     8 * r.stored_floats, r.loss, reached);
        }
      }
  }
  std::fclose(out);
  return 0;
}
