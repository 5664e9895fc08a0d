#include "revode/solvers/registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "revode/core/error.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/reversible/alf.hpp"
#include "revode/solvers/reversible/mccallum_foster.hpp"
#include "revode/solvers/reversible/reversible_heun.hpp"
#include "revode/solvers/tableaux/registry.hpp"

namespace revode {

std::vector<std::string> solver_names() {
  std::vector<std::string> names;
  for (const ButcherTableau* t : builtin_tableaux) names.emplace_back(t->name);
  // The reversible solvers: McCallum–Foster over every tableau, then the two native ones.
  for (const ButcherTableau* t : builtin_tableaux)
    names.push_back(fmt::format("reversible:{}", t->name));
  names.emplace_back("reversible-heun");
  names.emplace_back("alf");
  return names;
}

template <class T>
std::unique_ptr<Stepper<T>> make_stepper(std::string_view name, const SolverOptions& options) {
  for (const ButcherTableau* t : builtin_tableaux)
    if (t->name == name) return std::make_unique<ExplicitRK<T>>(*t);
  constexpr std::string_view reversible_prefix = "reversible:";
  if (name.starts_with(reversible_prefix))
    for (const ButcherTableau* t : builtin_tableaux)
      if (t->name == name.substr(reversible_prefix.size()))
        return std::make_unique<McCallumFoster<T>>(*t, options.coupling);
  if (name == "reversible-heun") return std::make_unique<ReversibleHeun<T>>();
  if (name == "alf") return std::make_unique<AsynchronousLeapfrog<T>>(options.damping);
  throw Error(fmt::format("unknown solver '{}' (known: {})", name, fmt::join(solver_names(), ", ")));
}

template std::unique_ptr<Stepper<float>> make_stepper<float>(std::string_view, const SolverOptions&);
template std::unique_ptr<Stepper<double>> make_stepper<double>(std::string_view,
                                                               const SolverOptions&);

}  // namespace revode
