/// The classical fourth-order Runge–Kutta method. Kutta (1901), Z. Math. Phys. 46:435–453.
#pragma once
#include "revode/solvers/butcher_tableau.hpp"
namespace revode::tableaux {
inline constexpr ButcherTableau rk4{.name = "rk4",
                                    .stages = 4,
                                    .order = 4,
                                    .embedded_order = 0,
                                    .c = {0.0, 1.0 / 2, 1.0 / 2, 1.0},
                                    .a = {{{}, {1.0 / 2}, {0.0, 1.0 / 2}, {0.0, 0.0, 1.0}}},
                                    .b = {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6},
                                    .b_hat = {}};
static_assert(rk4.is_consistent());
}  // namespace revode::tableaux
