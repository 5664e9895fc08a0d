/// The coefficient sets of the symmetric composition methods: Yoshida's triple jump (1990,
/// Phys. Lett. A 150:262), Suzuki's 5-stage fractal (1990, Phys. Lett. A 146:319) and the
/// order-6 triple jump of triple jumps over the double step ψ_{h/2}∘ψ_{h/2} (Hairer, Lubich &
/// Wanner, Geometric Numerical Integration, 2nd ed. 2006, §II.4 and §V.3).
/// Constexpr data checked at compile time (STYLE.md E1); `Composition` (composition.hpp) runs them.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

namespace revode {

/// A symmetric composition Φ_h = ψ_{γ_s h} ∘ … ∘ ψ_{γ_1 h} of a symmetric order-2 base step ψ,
/// γ_i = γ_{s+1−i} and Σ γ_i = 1. Sub-step i runs from c_{i−1} h to c_i h, c_i = γ_1 + … + γ_i.
///
/// `pair` names the embedded estimate (see composition.hpp): the sub-step ends i = pair and
/// j = s − pair, symmetric about h/2 (c_j = 1 − c_i), give the midpoint-rule result
/// ŷ = y0 + (y_i − y_j) / (c_i − c_j), an order-2 approximation of y(t0 + h) for free.
struct CompositionScheme {
  std::string_view name;  ///< the registry suffix, e.g. "yoshida4" (solver "alf-yoshida4")
  int order;              ///< of the composite, for a symmetric order-2 base
  std::span<const double> gamma;
  std::size_t pair;
  std::string_view citation;
};

namespace compositions {

/// γ1 = 1/(2 − 2^{1/3}), γ2 = −2^{1/3}/(2 − 2^{1/3}): 2γ1 + γ2 = 1, 2γ1³ + γ2³ = 0.
inline constexpr std::array<double, 3> yoshida4_gamma{1.35120719195965763404768780897,
                                                      -1.70241438391931526809537561794,
                                                      1.35120719195965763404768780897};

/// p = 1/(4 − 4^{1/3}): (p, p, 1 − 4p, p, p); smaller sub-steps than the triple jump (no
/// sub-step beyond [t0, t1]), a smaller error constant, two more evaluations.
inline constexpr std::array<double, 5> suzuki4_gamma{
    0.414490771794375737142354062861, 0.414490771794375737142354062861,
    -0.657963087177502948569416251443, 0.414490771794375737142354062861,
    0.414490771794375737142354062861};

/// The outer triple jump of order 6: δ1 = 1/(2 − 2^{1/5}), δ2 = −2^{1/5}/(2 − 2^{1/5}).
inline constexpr std::array<double, 3> triple_jump6{1.17467175808936338449506943656,
                                                    -1.34934351617872676899013887311,
                                                    1.17467175808936338449506943656};

/// The double step ψ_{h/2} ∘ ψ_{h/2}.
inline constexpr std::array<double, 2> double_step{0.5, 0.5};

/// The composition Ψ_{a_1 h} ∘ … with Ψ = the composition `inner`: γ_{(k−1)M + m} = a_k b_m.
template <std::size_t N, std::size_t M>
constexpr std::array<double, N * M> nest(const std::array<double, N>& a,
                                         const std::array<double, M>& b) {
  std::array<double, N * M> out{};
  for (std::size_t k = 0; k < N; ++k)
    for (std::size_t m = 0; m < M; ++m) out[k * M + m] = a[k] * b[m];
  return out;
}

/// Order 6: the triple jump (δ) of the order-4 triple jump (γ) of the double step. Over the
/// plain step instead of the double step the result stays order 4: an asynchronous leapfrog
/// or reversible Heun step at h = 0 is a reflection of the auxiliary state (ALF: v ↦ 2f(z) − v),
/// not the identity, so an odd number of sub-steps per inner composite spoils the order-6
/// cancellation (ALGORITHMS.md §4; observed: slope 4.0 for the 9-step version).
inline constexpr std::array<double, 18> yoshida6_gamma =
    nest(triple_jump6, nest(yoshida4_gamma, double_step));

/// Σ γ_i^power.
template <std::size_t N>
constexpr double power_sum(const std::array<double, N>& gamma, int power) {
  double sum = 0;
  for (double g : gamma) {
    double term = 1;
    for (int k = 0; k < power; ++k) term *= g;
    sum += term;
  }
  return sum;
}

/// |a − b| < 1e-14, the round-off of the sums above.
constexpr bool near(double a, double b) { return (a > b ? a - b : b - a) < 1e-14; }

/// Σ γ = 1, γ symmetric, and the order conditions of a symmetric composition of a symmetric
/// method up to `order` that are sums of powers: Σ γ³ = 0 (order 4), Σ γ⁵ = 0 (order 6;
/// with the nested construction the remaining order-6 condition holds by design, GNI §V.3).
template <std::size_t N>
constexpr bool is_symmetric_composition(const std::array<double, N>& gamma, int order) {
  for (std::size_t i = 0; i < N; ++i)
    if (gamma[i] != gamma[N - 1 - i]) return false;
  return near(power_sum(gamma, 1), 1.0) && (order < 4 || near(power_sum(gamma, 3), 0.0)) &&
         (order < 6 || near(power_sum(gamma, 5), 0.0));
}

static_assert(is_symmetric_composition(yoshida4_gamma, 4));
static_assert(is_symmetric_composition(suzuki4_gamma, 4));
static_assert(is_symmetric_composition(yoshida6_gamma, 6));
// The outer jump alone only cancels the order-5 error of its order-4 base: Σ δ⁵ = 0.
static_assert(near(power_sum(triple_jump6, 1), 1.0) && near(power_sum(triple_jump6, 5), 0.0));

inline constexpr CompositionScheme yoshida4{"yoshida4", 4, yoshida4_gamma, 1,
                                            "Yoshida (1990), Phys. Lett. A 150:262; GNI §II.4"};
inline constexpr CompositionScheme suzuki4{"suzuki4", 4, suzuki4_gamma, 2,
                                           "Suzuki (1990), Phys. Lett. A 146:319; GNI §II.4"};
/// The pair (6, 12): the ends of the first and second order-4 composite, at c = δ1 and 1 − δ1.
inline constexpr CompositionScheme yoshida6{
    "yoshida6", 6, yoshida6_gamma, 6,
    "Yoshida (1990) triple jump, twice, over the double step; GNI §II.4, §V.3"};

/// The only list of built-in compositions; the solver registry names them "<base>-<name>".
inline constexpr std::array<const CompositionScheme*, 3> builtin{&yoshida4, &suzuki4, &yoshida6};

}  // namespace compositions
}  // namespace revode
