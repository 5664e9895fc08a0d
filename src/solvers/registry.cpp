#include "revode/solvers/registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "revode/core/error.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/tableaux/registry.hpp"

namespace revode {

std::vector<std::string> solver_names() {
  std::vector<std::string> names;
  for (const ButcherTableau* t : builtin_tableaux) names.emplace_back(t->name);
  return names;
}

template <class T>
std::unique_ptr<Stepper<T>> make_stepper(std::string_view name, const SolverOptions& options) {
  (void)options;
  for (const ButcherTableau* t : builtin_tableaux)
    if (t->name == name) return std::make_unique<ExplicitRK<T>>(*t);
  throw Error(fmt::format("unknown solver '{}' (known: {})", name, fmt::join(solver_names(), ", ")));
}

template std::unique_ptr<Stepper<float>> make_stepper<float>(std::string_view, const SolverOptions&);
template std::unique_ptr<Stepper<double>> make_stepper<double>(std::string_view,
                                                               const SolverOptions&);

}  // namespace revode
