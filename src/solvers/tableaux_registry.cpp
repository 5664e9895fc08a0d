/// Name lookup over the one list of built-in tableaux.
#include <string>

#include "revode/core/error.hpp"
#include "revode/solvers/tableaux/registry.hpp"

namespace revode {

const ButcherTableau& find_tableau(std::string_view name) {
  std::string known;
  for (const ButcherTableau* t : builtin_tableaux) {
    if (t->name == name) return *t;
    known += (known.empty() ? "" : ", ") + std::string(t->name);
  }
  throw Error(fmt::format("unknown solver '{}' (known: {})", name, known));
}

}  // namespace revode
