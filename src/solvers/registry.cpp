#include "revode/solvers/registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "revode/core/error.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/reversible/alf.hpp"
#include "revode/solvers/reversible/composition.hpp"
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
  // Symmetric compositions of order 4 and 6: every scheme over the undamped ALF, and the
  // triple jump over reversible Heun.
  for (const CompositionScheme* c : compositions::builtin)
    names.push_back(fmt::format("alf-{}", c->name));
  names.emplace_back("reversible-heun-yoshida4");
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
  for (const CompositionScheme* c : compositions::builtin)
    if (name == fmt::format("alf-{}", c->name)) {
      require(options.damping == 1.0,
              "solver '{}' with asynchronous leapfrog damping η = {}; required: η = 1 (a "
              "composition gains order only over a symmetric base step, and η < 1 is not one)",
              name, options.damping);
      return std::make_unique<Composition<T>>(std::make_unique<AsynchronousLeapfrog<T>>(1.0), *c);
    }
  if (name == "reversible-heun-yoshida4")
    return std::make_unique<Composition<T>>(std::make_unique<ReversibleHeun<T>>(),
                                            compositions::yoshida4);
  throw Error(fmt::format("unknown solver '{}' (known: {})", name, fmt::join(solver_names(), ", ")));
}

template std::unique_ptr<Stepper<float>> make_stepper<float>(std::string_view, const SolverOptions&);
template std::unique_ptr<Stepper<double>> make_stepper<double>(std::string_view,
                                                               const SolverOptions&);

}  // namespace revode
