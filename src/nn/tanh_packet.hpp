/// The packet tanh shared by the activation kernels (activation.cpp) and the fused batch-1
/// layer kernel (dense_kernels.hpp), so both give the same value for the same input. Internal
/// to src/nn. Accuracy and speed: docs/performance.md, "Session 6: tanh".
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include <Eigen/Core>

namespace revode::tanh_kernel {

namespace ei = Eigen::internal;

/// The IEEE layout constants of T. round_bias: adding it to a value v with |v| < 2^(mantissa−1)
/// rounds v to the nearest integer n and leaves n + exponent bias in the low mantissa bits, so
/// that shifting the bits left by `mantissa` gives 2^n (the magic-number trick).
template <class T>
struct Ieee;
template <>
struct Ieee<double> {
  using Bits = std::uint64_t;  // unsigned: the shift drops the high bits, well defined
  static constexpr int mantissa = 52;
  static constexpr double round_bias = 0x1.8p52 + 1023;
};
template <>
struct Ieee<float> {
  using Bits = std::uint32_t;
  static constexpr int mantissa = 23;
  static constexpr float round_bias = 0x1.8p23f + 127;
};

/// 2^n for the integer n whose biased value m = n + round_bias holds (n ∈ [−87, 0] here, so
/// the result is a normal number in double and float). One integer shift per lane, where
/// Eigen's pldexp (range checks, four partial scalings) was about a third of the old kernel.
/// Packets are GCC/Clang vector types (SSE, AVX, AVX-512, NEON), so the shift is written
/// with the vector extension; a scalar "packet" (EIGEN_DONT_VECTORIZE) takes std::ldexp.
template <class P>
inline P pow2_from_biased(const P& m) {
  using T = typename ei::unpacket_traits<P>::type;
  if constexpr (std::is_arithmetic_v<P>) {
    return std::ldexp(T(1), static_cast<int>(m - Ieee<T>::round_bias));
  } else {
    typedef typename Ieee<T>::Bits Lanes __attribute__((vector_size(sizeof(P))));
    return reinterpret_cast<P>(reinterpret_cast<Lanes>(m) << Ieee<T>::mantissa);
  }
}

/// exp(u) for u ∈ [−60, 0] as the fraction y·s / a, s = 2^n an exact power of two, so that
/// the caller forms both 1 + e and e with one FMA or product each and divides once.
/// Double: Cephes' exp (the one Eigen's pexp uses), 2^n·(q + p)/(q − p) after range reduction
/// (the Padé form's division is merged into tanh's). Float: Cephes' expf polynomial, as in
/// Eigen's pexp, so a = 1.
template <class P>
struct ExpFraction {
  P a, y, s;
};

template <class P>
inline ExpFraction<P> exp_as_fraction(const P& u) {
  using T = typename ei::unpacket_traits<P>::type;
  const P bias = ei::pset1<P>(Ieee<T>::round_bias);
  const P m = ei::pmadd(u, ei::pset1<P>(T(1.4426950408889634073599)), bias);  // n + bias
  const P n = ei::psub(m, bias);  // round(u·log2 e), exact
  const P s = pow2_from_biased(m);
  if constexpr (std::is_same_v<T, double>) {
    // r = u − n·ln 2 in two parts; n·C1 is exact.
    const P r = ei::pmadd(n, ei::pset1<P>(-1.42860682030941723212e-6),
                          ei::pmadd(n, ei::pset1<P>(-0.693145751953125), u));
    const P r2 = ei::pmul(r, r);
    const P p = ei::pmul(ei::pmadd(ei::pmadd(ei::pset1<P>(1.26177193074810590878e-4), r2,
                                             ei::pset1<P>(3.02994407707441961300e-2)),
                                   r2, ei::pset1<P>(9.99999999999999999910e-1)),
                         r);
    const P q = ei::pmadd(ei::pmadd(ei::pmadd(ei::pset1<P>(3.00198505138664455042e-6), r2,
                                              ei::pset1<P>(2.52448340349684104192e-3)),
                                    r2, ei::pset1<P>(2.27265548208155028766e-1)),
                          r2, ei::pset1<P>(2.00000000000000000009e0));
    return {ei::psub(q, p), ei::padd(q, p), s};
  } else {
    const P r = ei::pmadd(n, ei::pset1<P>(T(2.12194440e-4)),
                          ei::pmadd(n, ei::pset1<P>(T(-0.693359375)), u));
    const P r2 = ei::pmul(r, r);
    const P r3 = ei::pmul(r2, r);
    P y = ei::pmadd(ei::pset1<P>(T(1.9875691500e-4)), r, ei::pset1<P>(T(1.3981999507e-3)));
    P y1 = ei::pmadd(ei::pset1<P>(T(4.1665795894e-2)), r, ei::pset1<P>(T(1.6666665459e-1)));
    y = ei::pmadd(y, r, ei::pset1<P>(T(8.3334519073e-3)));
    y1 = ei::pmadd(y1, r, ei::pset1<P>(T(5.0000001201e-1)));
    y = ei::pmadd(y, r3, y1);
    y = ei::pmadd(y, r2, ei::padd(r, ei::pset1<P>(T(1))));
    return {ei::pset1<P>(T(1)), y, s};
  }
}

/// tanh of one packet, in the formulation of Cephes' tanh.c (Moshier 1989), on |x|:
///   |x| < 0.625: |x| + |x|·z·P(z)/Q(z), z = x² (minimax rational, no cancellation near 0);
///   otherwise:   1 − 2e/(1 + e), e = exp(−2|x|) ≤ 0.287, so nothing overflows;
/// then x's sign (tanh is odd; this also keeps tanh(−0) = −0). With e = y·s/a
/// (exp_as_fraction), 2e/(1 + e) = (−2s·y)/(a + s·y): both branches share one division.
/// Subtracting from 1 last (not Cephes' (1 − e)/(1 + e)) rounds once near ±1, which keeps the
/// result monotone where it approaches ±1. |x| is clamped at 30, where e is far below an ulp
/// of 1. Measured on 4·10⁶ evenly spaced points of [−20, 20] plus 4·10⁴ around 0.625 and
/// where tanh rounds to ±1 (tests/nn/tanh_kernel_test.cpp, which bounds them at 3 and 2):
/// double max 2 ulp against std::tanh, float 1 ulp, odd and monotone on all of them. NaN
/// propagates through pmin (Eigen's returns its first argument when that is NaN).
template <class P>
inline P tanh_packet(const P& x) {
  using T = typename ei::unpacket_traits<P>::type;
  const P ax = ei::pabs(x);
  const P z = ei::pmul(x, x);
  const P p = ei::pmadd(ei::pmadd(ei::pset1<P>(T(-9.64399179425052238628e-1)), z,
                                  ei::pset1<P>(T(-9.92877231001918586564e1))),
                        z, ei::pset1<P>(T(-1.61468768441708447952e3)));
  const P q = ei::pmadd(ei::pmadd(ei::padd(z, ei::pset1<P>(T(1.12811678491632931402e2))), z,
                                  ei::pset1<P>(T(2.23548839060100448583e3))),
                        z, ei::pset1<P>(T(4.84406305325125486048e3)));
  const P u = ei::pmul(ei::pset1<P>(T(-2)), ei::pmin(ax, ei::pset1<P>(T(30))));
  const ExpFraction<P> e = exp_as_fraction(u);
  const P small = ei::pcmp_lt(ax, ei::pset1<P>(T(0.625)));
  const P num = ei::pselect(small, ei::pmul(ei::pmul(ax, z), p),
                            ei::pmul(e.y, ei::pmul(e.s, ei::pset1<P>(T(-2)))));
  const P den = ei::pselect(small, q, ei::pmadd(e.y, e.s, e.a));
  const P t = ei::padd(ei::pselect(small, ax, ei::pset1<P>(T(1))), ei::pdiv(num, den));
  return ei::por(t, ei::pand(x, ei::pset1<P>(T(-0.0))));
}

}  // namespace revode::tanh_kernel
