#include "revode/core/random.hpp"

#include <cmath>
#include <numbers>
#include <random>

#include "revode/core/error.hpp"

namespace revode {

std::vector<double> standard_normal(std::uint64_t seed, Index n) {
  require(n >= 0 && n <= kMaxStandardNormal, "standard_normal: n = {}; required: 0 <= n <= {}", n,
          kMaxStandardNormal);
  std::mt19937_64 rng(seed ^ 0x9E3779B97F4A7C15ULL);
  const auto uniform = [&rng] { return double(rng() >> 11) * 0x1.0p-53; };  // [0, 1)
  std::vector<double> out;
  out.reserve(std::size_t(n));
  while (Index(out.size()) < n) {
    const double radius = std::sqrt(-2.0 * std::log(1.0 - uniform()));  // 1 − u ∈ (0, 1]
    const double angle = 2.0 * std::numbers::pi * uniform();
    out.push_back(radius * std::cos(angle));
    if (Index(out.size()) < n) out.push_back(radius * std::sin(angle));
  }
  return out;
}

}  // namespace revode
