/// Bogacki–Shampine 3(2): four stages, FSAL, embedded order 2.
/// Bogacki & Shampine (1989), Appl. Math. Lett. 2(4):321–325.
#pragma once
#include "revode/solvers/butcher_tableau.hpp"
namespace revode::tableaux {
inline constexpr ButcherTableau bosh3{
    .name = "bosh3",
    .stages = 4,
    .order = 3,
    .embedded_order = 2,
    .c = {0.0, 1.0 / 2, 3.0 / 4, 1.0},
    .a = {{{}, {1.0 / 2}, {0.0, 3.0 / 4}, {2.0 / 9, 1.0 / 3, 4.0 / 9}}},
    .b = {2.0 / 9, 1.0 / 3, 4.0 / 9, 0.0},
    .b_hat = {7.0 / 24, 1.0 / 4, 1.0 / 3, 1.0 / 8}};
static_assert(bosh3.is_consistent() && bosh3.is_fsal());
}  // namespace revode::tableaux
