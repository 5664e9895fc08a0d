/// Heun's method (explicit trapezoidal rule): order 2, two stages, Euler embedded.
/// Heun (1900); Hairer, Nørsett & Wanner I, §II.1.
#pragma once
#include "revode/solvers/butcher_tableau.hpp"
namespace revode::tableaux {
inline constexpr ButcherTableau heun{.name = "heun",
                                     .stages = 2,
                                     .order = 2,
                                     .embedded_order = 1,
                                     .c = {0.0, 1.0},
                                     .a = {{{}, {1.0}}},
                                     .b = {1.0 / 2, 1.0 / 2},
                                     .b_hat = {1.0, 0.0}};
static_assert(heun.is_consistent());
}  // namespace revode::tableaux
