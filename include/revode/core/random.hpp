/// Seeded random draws that give the same numbers with every standard library, shared by the
/// front ends (the CLI's and the Python module's default y0 for MLP fields).
#pragma once

#include <cstdint>
#include <vector>

#include "revode/core/types.hpp"

namespace revode {

/// n standard normal draws: Box–Muller over std::mt19937_64, both values of each pair used.
/// Written out rather than std::normal_distribution, whose algorithm differs between standard
/// libraries, so a seed gives the same values everywhere. The stream is offset from the one
/// that draws an MLP's θ (Mlp::init_params) so that y0 and the first weights are not built
/// from the same numbers. @throws revode::Error unless 0 <= n <= kMaxStandardNormal.
std::vector<double> standard_normal(std::uint64_t seed, Index n);

/// The most draws standard_normal makes in one call: 2^31 (16 GiB), the MLP's parameter limit.
inline constexpr Index kMaxStandardNormal = Index{1} << 31;

}  // namespace revode
