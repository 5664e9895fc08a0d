/// Fehlberg's RKF 1(2) pair, here propagating the second-order solution (order 2, embedded
/// order 1, three stages). Fehlberg (1969), NASA TR R-315, Table XII.
#pragma once
#include "revode/solvers/butcher_tableau.hpp"
namespace revode::tableaux {
inline constexpr ButcherTableau fehlberg2{.name = "fehlberg2",
                                          .stages = 3,
                                          .order = 2,
                                          .embedded_order = 1,
                                          .c = {0.0, 1.0 / 2, 1.0},
                                          .a = {{{}, {1.0 / 2}, {1.0 / 256, 255.0 / 256}}},
                                          .b = {1.0 / 512, 255.0 / 256, 1.0 / 512},
                                          .b_hat = {1.0 / 256, 255.0 / 256, 0.0}};
static_assert(fehlberg2.is_consistent());
}  // namespace revode::tableaux
