/// Explicit midpoint rule: order 2, two stages, Euler embedded for error control
/// (Hairer, Nørsett & Wanner I, §II.1).
#pragma once
#include "revode/solvers/butcher_tableau.hpp"
namespace revode::tableaux {
inline constexpr ButcherTableau midpoint{.name = "midpoint",
                                         .stages = 2,
                                         .order = 2,
                                         .embedded_order = 1,
                                         .c = {0.0, 1.0 / 2},
                                         .a = {{{}, {1.0 / 2}}},
                                         .b = {0.0, 1.0},
                                         .b_hat = {1.0, 0.0}};
static_assert(midpoint.is_consistent());
}  // namespace revode::tableaux
