/// Activation kernels. tanh is hand-vectorised with Eigen's packet primitives because Eigen 3.4
/// evaluates double tanh one scalar std::tanh at a time, which dominated large-batch VJPs
/// (DESIGN.md, "Why a native engine"); the others are Eigen array expressions.

#include "revode/nn/activation.hpp"

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>
#include <string>

#include "revode/core/error.hpp"

namespace revode {
namespace {

namespace ei = Eigen::internal;

constexpr std::array<std::string_view, all_activations.size()> activation_names{
    "tanh", "softplus", "relu", "silu", "sigmoid", "elu", "identity"};

/// exp(u) for u ∈ [−60, 0] as a fraction b / a. Double: Cephes' exp (the one Eigen's pexp
/// uses), 2^n·(q + p)/(q − p) after range reduction, returned undivided so the caller's one
/// division covers it too (tanh 1.75 → 1.50 ns per value). Float: Eigen's float exp is a
/// polynomial with no division to save, and is faster than this (0.60 vs 0.69 ns), so a = 1.
template <class P>
std::pair<P, P> exp_as_fraction(const P& u) {
  using T = typename ei::unpacket_traits<P>::type;
  const P one = ei::pset1<P>(T(1));
  if constexpr (!std::is_same_v<T, double>) {
    return {one, ei::pexp(u)};
  } else {
    const P n = ei::pfloor(ei::pmadd(ei::pset1<P>(1.4426950408889634073599), u, ei::pset1<P>(0.5)));
    // u − n·ln 2 in two parts; n·C1 is exact.
    const P r = ei::psub(ei::psub(u, ei::pmul(n, ei::pset1<P>(0.693145751953125))),
                         ei::pmul(n, ei::pset1<P>(1.42860682030941723212e-6)));
    const P r2 = ei::pmul(r, r);
    const P p = ei::pmul(ei::pmadd(ei::pmadd(ei::pset1<P>(1.26177193074810590878e-4), r2,
                                             ei::pset1<P>(3.02994407707441961300e-2)),
                                   r2, ei::pset1<P>(9.99999999999999999910e-1)),
                         r);
    const P q = ei::pmadd(ei::pmadd(ei::pmadd(ei::pset1<P>(3.00198505138664455042e-6), r2,
                                              ei::pset1<P>(2.52448340349684104192e-3)),
                                    r2, ei::pset1<P>(2.27265548208155028766e-1)),
                          r2, ei::pset1<P>(2.00000000000000000009e0));
    return {ei::psub(q, p), ei::pmul(ei::pldexp(one, n), ei::padd(q, p))};
  }
}

/// tanh of one packet, in the formulation of Cephes' tanh.c (Moshier 1989):
///   |x| < 0.625: x + x·z·P(z)/Q(z), z = x² (minimax rational, no cancellation near 0);
///   otherwise:   sign(x)·(1 − e)/(1 + e), e = exp(−2|x|) ≤ 0.287, so nothing overflows.
/// With e = b/a (exp_as_fraction), (1 − e)/(1 + e) = (a − b)/(a + b): both branches share one
/// division. u = −2|x| is clamped at −60, where e is far below an ulp of 1. Measured
/// against std::tanh on 4·10⁶ evenly spaced points of [−20, 20]: double max abs error 3.3e-16,
/// max 3 ulp; float max abs error 1.2e-7, max 2 ulp. The branches agree to an ulp at
/// |x| = 0.625, so finite differences see a smooth function.
template <class P>
P tanh_packet(const P& x) {
  using T = typename ei::unpacket_traits<P>::type;
  const P ax = ei::pabs(x);
  const P z = ei::pmul(x, x);
  const P p = ei::pmadd(ei::pmadd(ei::pset1<P>(T(-9.64399179425052238628e-1)), z,
                                  ei::pset1<P>(T(-9.92877231001918586564e1))),
                        z, ei::pset1<P>(T(-1.61468768441708447952e3)));
  const P q = ei::pmadd(ei::pmadd(ei::padd(z, ei::pset1<P>(T(1.12811678491632931402e2))), z,
                                  ei::pset1<P>(T(2.23548839060100448583e3))),
                        z, ei::pset1<P>(T(4.84406305325125486048e3)));
  const P u = ei::pmax(ei::pmul(ei::pset1<P>(T(-2)), ax), ei::pset1<P>(T(-60)));
  const auto [a, b] = exp_as_fraction(u);  // e = b / a
  // a − b ≥ 0, so OR-ing in x's sign bit is copysign.
  const P large_num = ei::por(ei::psub(a, b), ei::pand(x, ei::pset1<P>(T(-0.0))));
  const P small = ei::pcmp_lt(ax, ei::pset1<P>(T(0.625)));
  const P num = ei::pselect(small, ei::pmul(ei::pmul(x, z), p), large_num);
  const P den = ei::pselect(small, q, ei::padd(a, b));
  const P t = ei::padd(ei::pand(small, x), ei::pdiv(num, den));
  return ei::pselect(ei::pcmp_eq(x, x), t, x);  // NaN in, NaN out
}

/// One contiguous run of n values. The tail goes through the same packet code via a padded
/// buffer, so a value's result never depends on its position in the block.
template <class T>
void tanh_run(T* x, T* derivative, Index n) {
  using P = typename ei::packet_traits<T>::type;
  constexpr Index width = ei::packet_traits<T>::size;
  const P one = ei::pset1<P>(T(1));
  const auto one_packet = [&](T* xp, T* dp) {
    const P t = tanh_packet(ei::ploadu<P>(xp));
    ei::pstoreu(xp, t);
    if (dp != nullptr) ei::pstoreu(dp, ei::pmul(ei::psub(one, t), ei::padd(one, t)));
  };
  Index i = 0;
  for (; i + width <= n; i += width) one_packet(x + i, derivative ? derivative + i : nullptr);
  if (i == n) return;
  alignas(64) std::array<T, width> xs{};
  alignas(64) std::array<T, width> ds{};
  std::copy(x + i, x + n, xs.begin());
  one_packet(xs.data(), ds.data());
  std::copy(xs.begin(), xs.begin() + (n - i), x + i);
  if (derivative != nullptr) std::copy(ds.begin(), ds.begin() + (n - i), derivative + i);
}

/// The other activations on one contiguous run. Written so that no intermediate overflows to
/// a NaN: exp only ever sees −|x| where its result is added to 1 or selected away.
template <class T>
void generic_run(Activation activation, T* xp, T* dp, Index n) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  Eigen::Map<Array> x(xp, n);
  Eigen::Map<Array> d(dp, dp ? n : 0);
  const bool want_d = dp != nullptr;
  switch (activation) {
    case Activation::tanh:
      tanh_run(xp, dp, n);
      return;
    case Activation::relu:
      if (want_d) d = (x > T(0)).template cast<T>();
      x = x.max(T(0));
      return;
    case Activation::sigmoid:
      x = (T(1) + (-x).exp()).inverse();
      if (want_d) d = x * (T(1) - x);
      return;
    case Activation::silu:
      if (!want_d) {
        x = x * (T(1) + (-x).exp()).inverse();
        return;
      }
      d = (T(1) + (-x).exp()).inverse();  // s = sigmoid(x)
      x = x * d;                          // silu = x·s
      d = d + x * (T(1) - d);             // silu' = s + x·s·(1 − s)
      return;
    case Activation::softplus:
      if (want_d) d = (T(1) + (-x).exp()).inverse();
      x = x.max(T(0)) + (-x.abs()).exp().log1p();
      return;
    case Activation::elu:
      if (want_d) d = (x > T(0)).select(T(1), x.exp());
      x = (x > T(0)).select(x, x.expm1());
      return;
    case Activation::identity:
      if (want_d) d.setOnes();
      return;
  }
}

template <class T>
bool contiguous(const BatchRef<T>& x) {
  return x.cols() <= 1 || x.outerStride() == x.rows();
}

template <class T>
void activate_impl(Activation activation, BatchRef<T>& x, BatchRef<T>* derivative) {
  if (x.size() == 0) return;
  const bool flat = contiguous(x) && (derivative == nullptr || contiguous(*derivative));
  if (flat) {
    generic_run(activation, x.data(), derivative ? derivative->data() : nullptr, x.size());
    return;
  }
  for (Index j = 0; j < x.cols(); ++j)
    generic_run(activation, x.col(j).data(), derivative ? derivative->col(j).data() : nullptr,
                x.rows());
}

}  // namespace

std::string_view activation_name(Activation activation) {
  return activation_names.at(static_cast<std::size_t>(activation));
}

Activation parse_activation(std::string_view name) {
  for (std::size_t i = 0; i < activation_names.size(); ++i)
    if (activation_names[i] == name) return all_activations[i];
  std::string known;
  for (const std::string_view valid : activation_names)
    known.append(known.empty() ? "" : ", ").append(valid);
  throw Error(fmt::format("unknown activation '{}' (known: {})", name, known));
}

template <class T>
void activate(Activation activation, BatchRef<T> x) {
  activate_impl<T>(activation, x, nullptr);
}

template <class T>
void activate(Activation activation, BatchRef<T> x, BatchRef<T> derivative) {
  require(derivative.rows() == x.rows() && derivative.cols() == x.cols(),
          "activate: derivative is {}×{}, expected the shape of x, {}×{}", derivative.rows(),
          derivative.cols(), x.rows(), x.cols());
  activate_impl<T>(activation, x, &derivative);
}

template void activate<float>(Activation, BatchRef<float>);
template void activate<double>(Activation, BatchRef<double>);
template void activate<float>(Activation, BatchRef<float>, BatchRef<float>);
template void activate<double>(Activation, BatchRef<double>, BatchRef<double>);

}  // namespace revode
