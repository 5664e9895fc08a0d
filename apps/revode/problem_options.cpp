#include "problem_options.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <variant>

#include "revode/cde/cde_spec.hpp"
#include "option_checks.hpp"
#include "params_file.hpp"
#include "revode/core/allocation_limit.hpp"
#include "revode/core/random.hpp"
#include "revode/fields/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/sde/drift_diffusion.hpp"
#include "revode/sde/sde_steppers.hpp"
#include "revode/sde/shark.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/core/text_parsing.hpp"
#include "torch_plugin.hpp"

namespace revode::cli {
namespace {

constexpr std::string_view mlp_prefix = "mlp:";
constexpr std::string_view torchscript_prefix = "torchscript:";

bool given(const CLI::Option* flag) { return flag != nullptr && flag->count() > 0; }
bool is_mlp(std::string_view field) { return field.substr(0, 3) == "mlp"; }
bool is_torchscript(std::string_view field) { return field.starts_with(torchscript_prefix); }
/// Fields that are not in the analytic registry (no default y0, time span or θ there).
bool is_network(std::string_view field) {
  return is_mlp(field) || is_torchscript(field) || is_cde_field(field);
}

Init parse_init(const std::string& name) {
  if (name == "pytorch") return Init::pytorch_default;
  if (name == "glorot") return Init::glorot;
  throw Error(fmt::format("--init '{}': expected pytorch or glorot", name));
}

/// --field torchscript:PATH (revode::torch, docs/torch-field.md): θ starts as the module's own
/// parameters; the state dimension is the module's state_dim attribute or the length of --y0.
template <class T>
void build_torchscript_field(const ProblemOptions& o, Problem<T>& p,
                             std::vector<double>& y0_column) {
  const std::string path = o.field.substr(torchscript_prefix.size());
  require(!path.empty(), "--field '{}': expected torchscript:PATH to a saved TorchScript module",
          o.field);
  for (const CLI::Option* flag : o.mlp_only_flags)
    require(!given(flag), "{} applies to mlp fields only; '{}' is a TorchScript module",
            flag->get_name(), o.field);
  const Index state_dim = o.y0.empty() ? 0 : Index(parse_number_list(o.y0, "--y0").size());
  TorchScriptField<T> loaded = load_torchscript_field<T>(path, state_dim);
  p.theta = std::move(loaded.theta);
  y0_column = standard_normal(o.seed, loaded.field->state_dim());
  p.field = std::move(loaded.field);
}

/// The field, its default θ and its default y0 column.
template <class T>
void build_field(const ProblemOptions& o, Problem<T>& p, std::vector<double>& y0_column) {
  if (is_torchscript(o.field)) {
    build_torchscript_field(o, p, y0_column);
    return;
  }
  if (is_cde_field(o.field)) {  // cde_option.hpp; θ ends with the file's path values
    require(!given(o.mlp_only_flags[2]), "--time-input does not apply to cde fields ('{}')",
            o.field);
    CdeFieldBuild<T> cde = build_cde_field<T>(o.field, o.batch, parse_activation(o.activation),
                                              parse_init(o.init), o.seed);
    p.theta = std::move(cde.theta);
    p.t0 = cde.t0;  // the observation span, unless --t0/--t1 say otherwise
    p.t1 = cde.t1;
    y0_column = standard_normal(o.seed, cde.field->state_dim());
    p.field = std::move(cde.field);
    return;
  }
  if (is_mlp(o.field)) {
    require(o.field.substr(0, mlp_prefix.size()) == mlp_prefix,
            "--field '{}': expected mlp:WIDTHS such as mlp:2,64,64,2, or an analytic field",
            o.field);
    auto mlp = std::make_unique<Mlp<T>>(parse_mlp_spec(
        o.field.substr(mlp_prefix.size()), parse_activation(o.activation), o.time_input));
    p.theta = mlp->init_params(parse_init(o.init), o.seed);
    y0_column = standard_normal(o.seed, mlp->state_dim());
    p.field = std::move(mlp);
    return;
  }
  for (const CLI::Option* flag : o.mlp_only_flags)
    require(!given(flag), "{} applies to mlp fields only; '{}' is an analytic field",
            flag->get_name(), o.field);
  const AnalyticFieldInfo& info = analytic_field_info(o.field);
  p.field = make_analytic_field<T>(o.field);
  p.theta = Eigen::Map<const Vector<double>>(info.default_params.data(),
                                             Index(info.default_params.size()))
                .template cast<T>();
  y0_column = info.default_y0;
}

/// y0 from --y0 (or the default column), repeated over the batch; finite in T.
template <class T>
Batch<T> build_y0(const ProblemOptions& o, Index dim, std::vector<double> column) {
  require(o.batch >= 1, "--batch {}; required: >= 1", o.batch);
  require_memory("--batch", o.batch, {dim, o.batch, Index(sizeof(T))});
  if (!o.y0.empty()) {
    column = parse_number_list(o.y0, "--y0");
    require(Index(column.size()) == dim,
            "--y0 has {} entries; expected {} (the state dimension of field '{}')", column.size(),
            dim, o.field);
  }
  Vector<T> y(dim);
  for (Index i = 0; i < dim; ++i) {
    y[i] = T(column[std::size_t(i)]);
    require(std::isfinite(y[i]), "--y0 entry {} is {}; required: finite in {}", i,
            column[std::size_t(i)], dtype_name<T>());
  }
  return y.replicate(1, o.batch);
}

StepControl build_control(const ProblemOptions& o) {
  const bool adaptive = given(o.rtol_flag) || given(o.atol_flag);
  require(!(adaptive && given(o.steps_flag)),
          "--steps {} and --rtol/--atol exclude each other: give a number of fixed steps or "
          "tolerances for adaptive steps, not both",
          o.steps);
  if (!adaptive) {
    require(!given(o.max_steps_flag) && !given(o.dtmin_flag),
            "--max-steps and --dtmin apply to adaptive steps only; add --rtol/--atol or drop them");
    require(o.steps >= 1, "--steps {}; required: >= 1", o.steps);
    return FixedSteps{o.steps, 0.0};
  }
  AdaptiveSteps a;
  a.rtol = o.rtol;
  a.atol = o.atol;
  a.dtmin = o.dtmin;
  a.max_steps = o.max_steps;
  return a;
}

SaveAt build_save_at(const ProblemOptions& o, double t0, double t1) {
  SaveAt s;
  if (o.saveat == "final") {
    s = SaveAt::final_time(t1);
  } else if (o.saveat == "steps") {
    s = SaveAt::every_step();
  } else if (o.saveat.find(',') != std::string::npos) {
    s.ts = parse_number_list(o.saveat, "--saveat");
  } else {
    const auto count = parse_count(o.saveat);
    require(count.has_value() && *count >= 1,
            "--saveat '{}': expected final, steps, a count K >= 1 of equally spaced times from "
            "t0 to t1, or comma-separated times",
            o.saveat);
    s = SaveAt::linspace(t0, t1, Index(*count));
  }
  s.dense = o.dense;
  return s;
}

/// --diffusion SPEC: the field becomes the drift of an SDE, θ grows by θ_g, and the solver is
/// the SDE form of --solver over a Brownian tree from --brownian-seed (docs/sde.md).
template <class T>
void build_sde(const ProblemOptions& o, Problem<T>& p) {
  const NoiseType noise = parse_noise_type(o.noise);
  require(!o.dense, "--dense does not apply to SDEs: save times split the steps instead");
  DiffusionBuild<T> g = make_diffusion<T>(o.diffusion, noise, p.field->state_dim(),
                                          parse_activation(o.activation), o.seed + 1);
  Vector<T> theta(p.theta.size() + g.default_params.size());
  theta << p.theta, g.default_params;
  p.theta = std::move(theta);
  auto sde = std::make_unique<DriftDiffusion<T>>(std::move(p.field), std::move(g.diffusion), noise,
                                                 g.noise_dim);
  auto brownian = std::make_shared<const BrownianTree>(
      std::min(p.t0, p.t1), std::max(p.t0, p.t1), g.noise_dim, o.brownian_seed, 0x1p-40,
      sde_solver_levy_area(o.solver));
  p.stepper = make_sde_stepper<T>(o.solver, SolverOptions{o.coupling, o.damping},
                                  std::move(brownian), *sde);
  p.field = std::move(sde);
}

std::string activation_help() {
  std::vector<std::string_view> names;
  for (Activation a : all_activations) names.push_back(activation_name(a));
  return fmt::format("MLP hidden activation: {}", fmt::join(names, ", "));
}

}  // namespace

void add_problem_options(CLI::App& c, ProblemOptions& o) {
  c.add_option("--field", o.field,
               fmt::format("mlp:W0,W1,...,W0 (an MLP with these layer widths), "
                           "cde:FILE[,hidden=H,widths=W1xW2,interpolation=hermite] (a neural "
                           "CDE over observations; docs/cde.md), "
                           "torchscript:PATH (a saved TorchScript module forward(t, y); "
                           "docs/torch-field.md) or an analytic field: {}",
                           fmt::join(analytic_field_names(), ", ")))
      ->capture_default_str();
  o.mlp_only_flags[0] =
      c.add_option("--activation", o.activation, activation_help())->capture_default_str();
  o.mlp_only_flags[1] =
      c.add_option("--init", o.init, "MLP initialiser: pytorch or glorot")->capture_default_str();
  o.mlp_only_flags[2] = c.add_flag("--time-input", o.time_input, "MLP takes [t; y] as input");
  c.add_option("--seed", o.seed, "seed of the MLP parameters and the default y0")
      ->capture_default_str();
  c.add_option("--params", o.params_file,
               "JSON file {\"params\": [...]} overriding the parameters θ (length checked)");
  c.add_option("--y0", o.y0,
               "initial state v1,v2,... repeated over the batch; default: a standard normal "
               "draw from --seed for mlp fields, the field's own for analytic ones");
  c.add_option("--batch", o.batch, "number of samples")->capture_default_str();
  c.add_option("--dtype", o.dtype, "float32 or float64")->capture_default_str();
  c.add_option("--solver", o.solver, fmt::format("{}", fmt::join(solver_names(), ", ")))
      ->capture_default_str();
  c.add_option("--coupling", o.coupling, "McCallum–Foster coupling λ (reversible solvers)")
      ->check(unit_interval())
      ->capture_default_str();
  c.add_option("--damping", o.damping, "asynchronous leapfrog damping η (reversible solvers)")
      ->check(unit_interval())
      ->capture_default_str();
  o.t0_flag = c.add_option("--t0", o.t0, "start time (default 0, or the analytic field's)");
  o.t1_flag = c.add_option("--t1", o.t1, "end time (default 1, or the analytic field's)");
  o.steps_flag = c.add_option("--steps", o.steps,
                              "number of fixed steps (the default, 100, when neither --steps "
                              "nor --rtol/--atol is given)");
  o.rtol_flag = c.add_option("--rtol", o.rtol,
                             "relative tolerance: adaptive steps (default 1e-6 when only --atol "
                             "is given)");
  o.atol_flag = c.add_option("--atol", o.atol,
                             "absolute tolerance: adaptive steps (default 1e-8 when only --rtol "
                             "is given)");
  o.max_steps_flag = c.add_option("--max-steps", o.max_steps,
                                  "adaptive: accepted + rejected steps allowed (default 10000)");
  o.dtmin_flag = c.add_option("--dtmin", o.dtmin, "adaptive: smallest step allowed (default 0)");
  c.add_option("--saveat", o.saveat,
               "final (the state at t1), steps (t0 and every step endpoint), K (K equally spaced "
               "times from t0 to t1), or T1,T2,... (those times)")
      ->capture_default_str();
  c.add_flag("--dense", o.dense,
             "reach save times by dense output instead of shortening steps to land on them");
  c.add_flag("--json", o.json, "print one JSON object");
  c.add_option("--diffusion", o.diffusion,
               "make --field the drift of the SDE dy = f dt + g(t, y) ∘ dW: const:V,... "
               "(constant g), linear:V,... (g = σ·y), mlp:d,H,...,K (an MLP); docs/sde.md");
  o.sde_only_flags[0] =
      c.add_option("--noise", o.noise, "SDE noise type: diagonal, scalar, additive or general")
          ->capture_default_str();
  o.sde_only_flags[1] =
      c.add_option("--brownian-seed", o.brownian_seed,
                   "seed of the Brownian motion, 0 … 2^63 - 1 (sample b is the path of (S, b))")
          ->capture_default_str();
  c.add_option("--threads", o.threads,
               "threads that split the batch into chunks of 64 samples (0: the machine's cores); "
               "results are bit-identical for every count (docs/parallel.md)")
      ->capture_default_str();
  c.add_flag("--per-sample-steps", o.per_sample_steps,
             "adaptive: every sample its own step sizes, accepted and rejected steps "
             "(docs/parallel.md)");
}

template <class T>
Problem<T> build_problem(const ProblemOptions& o) {
  Problem<T> p;
  std::vector<double> y0_column;
  build_field<T>(o, p, y0_column);
  const AnalyticFieldInfo* info = is_network(o.field) ? nullptr : &analytic_field_info(o.field);
  const bool span_from_field = is_cde_field(o.field);  // build_field set the data's span
  if (!(span_from_field && !given(o.t0_flag)))
    p.t0 = info != nullptr && !given(o.t0_flag) ? info->t0 : o.t0;
  if (!(span_from_field && !given(o.t1_flag)))
    p.t1 = info != nullptr && !given(o.t1_flag) ? info->t1 : o.t1;
  require(std::isfinite(p.t0) && std::isfinite(p.t1) && p.t0 != p.t1,
          "--t0 {} --t1 {}: required: finite and different", p.t0, p.t1);
  p.y0 = build_y0<T>(o, p.field->state_dim(), std::move(y0_column));
  p.control = build_control(o);
  validate(p.control);
  if (o.diffusion.empty()) {
    for (const CLI::Option* flag : o.sde_only_flags)
      require(!given(flag), "{} applies to SDEs only; add --diffusion SPEC", flag->get_name());
    p.stepper = make_stepper<T>(o.solver, SolverOptions{o.coupling, o.damping});
  } else {
    build_sde(o, p);
  }
  if (!o.params_file.empty()) p.theta = read_params_file<T>(o.params_file, *p.field, &p.theta);
  p.save_at = build_save_at(o, p.t0, p.t1);
  validate(p.save_at, p.t0, p.t1);
  validate_inputs<T>(*p.field, p.y0, p.theta);
  return p;
}

template Problem<float> build_problem<float>(const ProblemOptions&);
template Problem<double> build_problem<double>(const ProblemOptions&);

}  // namespace revode::cli
