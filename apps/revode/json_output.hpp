/// The JSON objects `revode solve --json` and `revode grad --json` print. States are written
/// as [sample][component] lists; float32 values are widened to double exactly.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "problem_options.hpp"
#include "revode/core/stats.hpp"
#include "revode/gradients/gradient_method.hpp"
#include "revode/solvers/integrate.hpp"

namespace revode::cli {

using Json = nlohmann::ordered_json;  // keys in the order written, for people reading it

/// Every SolveStats field by name; "guard" (every GuardStats field) when a guard ran.
Json stats_json(const SolveStats& stats);
Json guard_json(const GuardStats& guard);

/// The warning line on stderr when the reversible guard repaired or flagged a gradient.
void warn_about_guard(const GuardStats& guard);

/// The warning line on stderr when a checkpointing method re-ran each step of the solve 10
/// times or more on average (few slots against many steps), with the trade that cuts it.
void warn_about_recomputation(const std::string& method, const SolveStats& stats);

/// The problem as run: field, solver, dtype, shapes, time span and step control.
template <class T>
Json problem_json(const Problem<T>& problem);

/// The problem, then "ts", "ys" ([save][sample][component]), "stats", "seconds".
template <class T>
Json solve_json(const Problem<T>& problem, const Solution<T>& solution, double seconds);

/// The problem, method and loss, then "loss", "grad_norm", "grad_params", "grad_y0"
/// ([sample][component]), "ts", "stats", "seconds".
template <class T>
Json grad_json(const Problem<T>& problem, const std::string& method, const std::string& loss,
               const GradientResult<T>& result, double seconds);

#define REVODE_CLI_JSON_DECLARE(T)                                                             \
  extern template Json problem_json<T>(const Problem<T>&);                                     \
  extern template Json solve_json<T>(const Problem<T>&, const Solution<T>&, double);           \
  extern template Json grad_json<T>(const Problem<T>&, const std::string&, const std::string&, \
                                    const GradientResult<T>&, double);
REVODE_CLI_JSON_DECLARE(float)
REVODE_CLI_JSON_DECLARE(double)
#undef REVODE_CLI_JSON_DECLARE

}  // namespace revode::cli
