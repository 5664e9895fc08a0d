/// Ralston's third-order method (minimal truncation-error bound). Ralston (1962),
/// Math. Comp. 16:431–437. It is also the propagating method of Bogacki–Shampine 3(2).
#pragma once
#include "revode/solvers/butcher_tableau.hpp"
namespace revode::tableaux {
inline constexpr ButcherTableau ralston3{.name = "ralston3",
                                         .stages = 3,
                                         .order = 3,
                                         .embedded_order = 0,
                                         .c = {0.0, 1.0 / 2, 3.0 / 4},
                                         .a = {{{}, {1.0 / 2}, {0.0, 3.0 / 4}}},
                                         .b = {2.0 / 9, 1.0 / 3, 4.0 / 9},
                                         .b_hat = {}};
static_assert(ralston3.is_consistent());
}  // namespace revode::tableaux
