/// Ralston's second-order method (the 2/3 method, minimal truncation-error bound), Euler
/// embedded. Ralston (1962), Math. Comp. 16:431–437.
#pragma once
#include "revode/solvers/butcher_tableau.hpp"
namespace revode::tableaux {
inline constexpr ButcherTableau ralston2{.name = "ralston2",
                                         .stages = 2,
                                         .order = 2,
                                         .embedded_order = 1,
                                         .c = {0.0, 2.0 / 3},
                                         .a = {{{}, {2.0 / 3}}},
                                         .b = {1.0 / 4, 3.0 / 4},
                                         .b_hat = {1.0, 0.0}};
static_assert(ralston2.is_consistent());
}  // namespace revode::tableaux
