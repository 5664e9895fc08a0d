/// Kutta's 3/8 rule: fourth order, four stages. Kutta (1901), Z. Math. Phys. 46:435–453.
#pragma once
#include "revode/solvers/butcher_tableau.hpp"
namespace revode::tableaux {
inline constexpr ButcherTableau rk38{.name = "rk38",
                                     .stages = 4,
                                     .order = 4,
                                     .embedded_order = 0,
                                     .c = {0.0, 1.0 / 3, 2.0 / 3, 1.0},
                                     .a = {{{}, {1.0 / 3}, {-1.0 / 3, 1.0}, {1.0, -1.0, 1.0}}},
                                     .b = {1.0 / 8, 3.0 / 8, 3.0 / 8, 1.0 / 8},
                                     .b_hat = {}};
static_assert(rk38.is_consistent());
}  // namespace revode::tableaux
