/// The options `revode solve` and `revode grad` share (field, y0, θ, solver, step control,
/// save-at), and the problem they build: every flag is validated here, once, so the commands
/// only run and print. Templated on the scalar type; `dispatch_dtype` is the one place where
/// `--dtype` picks float or double.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "revode/core/error.hpp"
#include "revode/core/vector_field.hpp"
#include "revode/solvers/save_at.hpp"
#include "revode/solvers/step_control.hpp"
#include "revode/solvers/stepper.hpp"

namespace revode::cli {

/// The raw flags as CLI11 parsed them. Flags whose absence means "use a default that depends
/// on other flags" (t0, t1, steps, rtol, atol, ...) are asked through their CLI::Option count.
struct ProblemOptions {
  std::string field = "mlp:2,64,64,2";
  std::string activation = "tanh";
  std::string init = "pytorch";
  bool time_input = false;
  std::uint64_t seed = 0;
  std::string params_file;
  std::string y0;
  Index batch = 1;
  std::string dtype = "float64";
  std::string solver = "dopri5";
  double coupling = 0.999;
  double damping = 1.0;
  double t0 = 0.0, t1 = 1.0;
  Index steps = 100;
  double rtol = 1e-6, atol = 1e-8;
  Index max_steps = 10000;
  double dtmin = 0.0;
  std::string saveat = "final";
  bool dense = false;
  bool json = false;
  // SDEs (docs/sde.md): --diffusion makes the field the drift of dy = f dt + g ∘ dW.
  std::string diffusion;
  std::string noise = "diagonal";
  std::int64_t brownian_seed = 0;
  Index threads = 0;              ///< --threads (0: the machine's cores)
  bool per_sample_steps = false;  ///< --per-sample-steps

  // Set by add_problem_options; owned by the CLI::App.
  CLI::Option* t0_flag = nullptr;
  CLI::Option* t1_flag = nullptr;
  CLI::Option* steps_flag = nullptr;
  CLI::Option* rtol_flag = nullptr;
  CLI::Option* atol_flag = nullptr;
  CLI::Option* max_steps_flag = nullptr;
  CLI::Option* dtmin_flag = nullptr;
  CLI::Option* mlp_only_flags[3] = {};  // --activation, --init, --time-input
  CLI::Option* sde_only_flags[2] = {};  // --noise, --brownian-seed
};

/// Registers every shared flag on `command`, storing into `options`.
void add_problem_options(CLI::App& command, ProblemOptions& options);

/// A ready-to-run problem: everything validated, shapes consistent.
template <class T>
struct Problem {
  std::unique_ptr<VectorField<T>> field;
  std::unique_ptr<Stepper<T>> stepper;
  StepControl control;
  SaveAt save_at;
  double t0 = 0.0, t1 = 1.0;
  Batch<T> y0;      ///< state_dim × batch
  Vector<T> theta;  ///< param_count
};

/// Builds the problem the flags describe. Throws revode::Error naming the bad flag and value.
template <class T>
Problem<T> build_problem(const ProblemOptions& options);

extern template Problem<float> build_problem<float>(const ProblemOptions&);
extern template Problem<double> build_problem<double>(const ProblemOptions&);

/// Calls `body.template operator()<T>()` with T = float for "float32", double for "float64".
template <class Body>
int dispatch_dtype(const std::string& dtype, Body&& body) {
  if (dtype == "float32") return body.template operator()<float>();
  if (dtype == "float64") return body.template operator()<double>();
  throw Error(fmt::format("--dtype '{}': expected float32 or float64", dtype));
}

/// "float32" or "float64" for the scalar type (for output).
template <class T>
constexpr const char* dtype_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

}  // namespace revode::cli
