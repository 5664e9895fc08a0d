/// The only list of built-in Butcher tableaux. Adding one: write tableaux/<name>.hpp and add
/// one line here; the CLI, the docs table and the property tests all iterate over this list.
#pragma once

#include <array>
#include <span>
#include <string_view>

#include "revode/solvers/tableaux/bosh3.hpp"
#include "revode/solvers/tableaux/dopri5.hpp"
#include "revode/solvers/tableaux/euler.hpp"
#include "revode/solvers/tableaux/fehlberg2.hpp"
#include "revode/solvers/tableaux/heun.hpp"
#include "revode/solvers/tableaux/midpoint.hpp"
#include "revode/solvers/tableaux/ralston2.hpp"
#include "revode/solvers/tableaux/ralston3.hpp"
#include "revode/solvers/tableaux/rk3.hpp"
#include "revode/solvers/tableaux/rk38.hpp"
#include "revode/solvers/tableaux/rk4.hpp"
#include "revode/solvers/tableaux/tsit5.hpp"

namespace revode {

inline constexpr std::array<const ButcherTableau*, 12> builtin_tableaux{
    &tableaux::euler,    &tableaux::midpoint, &tableaux::heun,      &tableaux::ralston2,
    &tableaux::ralston3, &tableaux::rk3,      &tableaux::rk4,       &tableaux::rk38,
    &tableaux::bosh3,    &tableaux::fehlberg2, &tableaux::dopri5,   &tableaux::tsit5,
};

/// The tableau called `name`; throws revode::Error listing the known names otherwise.
const ButcherTableau& find_tableau(std::string_view name);

}  // namespace revode
