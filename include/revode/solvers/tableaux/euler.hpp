/// Forward Euler: order 1, one stage. Euler (1768).
#pragma once
#include "revode/solvers/butcher_tableau.hpp"
namespace revode::tableaux {
inline constexpr ButcherTableau euler{
    .name = "euler", .stages = 1, .order = 1, .embedded_order = 0, .c = {0.0}, .a = {}, .b = {1.0},
    .b_hat = {}};
static_assert(euler.is_consistent());
}  // namespace revode::tableaux
