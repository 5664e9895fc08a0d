/// The fixed-size kernels of small_mlp.hpp and their table.

// GCC 12 reports the _mm512_undefined_pd placeholder of its own avx512fintrin.h, inlined
// through Eigen's pmin into the tanh packet, as uninitialized here (the false positive of GCC
// PR 105593 that CMakeLists.txt silences as -Wmaybe-uninitialized; with the sizes fixed GCC
// sees it as definite).
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "small_mlp.hpp"

#include <Eigen/Core>
#include <cmath>

#include "../core/mul_add.hpp"
#include "tanh_packet.hpp"

namespace revode::small_mlp {
namespace {

namespace ei = Eigen::internal;

/// [t,] y (S) → H tanh → O. θ: W1 (H × I, I = S + time), b1, W2 (O × H), b2.
template <class T, int S, int H, int O, bool Time>
struct OneHidden {
  using P = typename ei::packet_traits<T>::type;
  static constexpr int n = ei::packet_traits<T>::size;
  static constexpr int packets = (H + n - 1) / n;  // the last may be partly past H
  static constexpr int I = S + (Time ? 1 : 0);
  static constexpr Index b1 = Index{H} * I, w2 = b1 + H, b2 = w2 + Index{O} * H, params = b2 + O;
  /// The hidden layer loads whole packets of W1's columns and of b1; lanes past H read the
  /// next column, b1 or W2 (computed, then never used). They must stay inside θ.
  static constexpr bool fits =
      Index{I - 1} * H + packets * n <= params && b1 + packets * n <= params;

  /// z = b1 + W1 [t; y] by packets of hidden units (one FMA per input column, I deep), then
  /// σ = tanh(z) in the registers.
  static void hidden(T t, const T* y, const T* theta, P* sigma) {
    P z[packets];
    for (int k = 0; k < packets; ++k) z[k] = ei::ploadu<P>(theta + b1 + k * n);
    if constexpr (Time)
      for (int k = 0; k < packets; ++k)
        z[k] = ei::pmadd(ei::ploadu<P>(theta + k * n), ei::pset1<P>(t), z[k]);
    for (int j = 0; j < S; ++j) {
      const P xj = ei::pset1<P>(y[j]);
      const T* wj = theta + (j + (Time ? 1 : 0)) * H;
      for (int k = 0; k < packets; ++k) z[k] = ei::pmadd(ei::ploadu<P>(wj + k * n), xj, z[k]);
    }
    for (int k = 0; k < packets; ++k) sigma[k] = tanh_kernel::tanh_packet(z[k]);
  }

  /// dy = b2 + W2 σ: per output two independent partial sums (even and odd hidden units), so
  /// the dependency chains are H/2 FMAs deep and the O outputs' chains overlap.
  static void output(const T* theta, const T* s, T* dy) {
    const T* w = theta + w2;
    for (int o = 0; o < O; ++o) {
      T even = theta[b2 + o], odd = T(0);
      for (int h = 0; h + 1 < H; h += 2) {
        even = mul_add(w[o + h * O], s[h], even);
        odd = mul_add(w[o + (h + 1) * O], s[h + 1], odd);
      }
      if constexpr (H % 2 == 1) even = mul_add(w[o + (H - 1) * O], s[H - 1], even);
      dy[o] = even + odd;
    }
  }

  static void eval(T t, const T* y, const T* theta, T* dy, T* sigma) {
    alignas(64) T s[packets * n];
    P p[packets];
    hidden(t, y, theta, p);
    for (int k = 0; k < packets; ++k) ei::pstore(s + k * n, p[k]);
    if (sigma != nullptr)
      for (int h = 0; h < H; ++h) sigma[h] = s[h];
    output(theta, s, dy);
  }

  /// The backward half from σ (s, H scalars): b̄2 += a, W̄2 += a σᵀ, g = (W2ᵀ a) ⊙ tanh'(z) with
  /// tanh' = (1 − σ)(1 + σ) (the forward's formula, so the same bits as the generic path and
  /// the tape's rebuild), b̄1 += g, W̄1 += g [t; y]ᵀ, ȳ = W1[:, y]ᵀ g.
  static void backward(T t, const T* y, const T* theta, const T* s, const T* a, T* y_bar,
                       T* theta_bar) {
    T x[I];  // read before ȳ is written: ȳ may alias y
    if constexpr (Time) x[0] = t;
    for (int j = 0; j < S; ++j) x[j + (Time ? 1 : 0)] = y[j];
    T av[O];
    for (int o = 0; o < O; ++o) av[o] = a[o];
    const T* w_2 = theta + w2;
    T* w_bar2 = theta_bar + w2;
    for (int o = 0; o < O; ++o) theta_bar[b2 + o] += av[o];
    for (int h = 0; h < H; ++h)
      for (int o = 0; o < O; ++o) w_bar2[o + h * O] = mul_add(av[o], s[h], w_bar2[o + h * O]);
    T g[H];
    for (int h = 0; h < H; ++h) {
      T dot = w_2[h * O] * av[0];
      for (int o = 1; o < O; ++o) dot = mul_add(w_2[o + h * O], av[o], dot);
      g[h] = dot * ((T(1) - s[h]) * (T(1) + s[h]));
    }
    for (int h = 0; h < H; ++h) theta_bar[b1 + h] += g[h];
    for (int j = 0; j < I; ++j)
      for (int h = 0; h < H; ++h) theta_bar[j * H + h] = mul_add(x[j], g[h], theta_bar[j * H + h]);
    for (int j = 0; j < S; ++j) {
      const T* wj = theta + (j + (Time ? 1 : 0)) * H;
      T even = T(0), odd = T(0);
      for (int h = 0; h + 1 < H; h += 2) {
        even = mul_add(wj[h], g[h], even);
        odd = mul_add(wj[h + 1], g[h + 1], odd);
      }
      if constexpr (H % 2 == 1) even = mul_add(wj[H - 1], g[H - 1], even);
      y_bar[j] = even + odd;
    }
  }

  static void vjp(T t, const T* y, const T* theta, const T* a, T* y_bar, T* theta_bar,
                  const T* sigma) {
    if (sigma != nullptr) {
      backward(t, y, theta, sigma, a, y_bar, theta_bar);
      return;
    }
    alignas(64) T s[packets * n];
    P p[packets];
    hidden(t, y, theta, p);
    for (int k = 0; k < packets; ++k) ei::pstore(s + k * n, p[k]);
    backward(t, y, theta, s, a, y_bar, theta_bar);
  }

  static constexpr Kernels<T> kernels{&eval, &vjp, H};
};

/// A table entry: the shape it serves and its kernels (null where they do not fit θ).
template <class T>
struct Entry {
  Index state, hidden, out;
  bool time;
  const Kernels<T>* kernels;
};

template <class T, int S, int H, int O, bool Time>
constexpr Entry<T> entry() {
  using K = OneHidden<T, S, H, O, Time>;
  return {S, H, O, Time, K::fits ? &K::kernels : nullptr};
}

/// The supported shapes: the white-dwarf field ([t, y] → 10 → 2) and the small fields of the
/// benchmarks and tests (2 → 16 → 2, 4 → 10 → 4; 2 → 8 → 2, 2 → 6 → 2 and [t, y] → 12 → 2 are
/// the exactness suites' fields), with and without the time input.
template <class T>
constexpr Entry<T> table[] = {
    entry<T, 2, 10, 2, true>(),  entry<T, 2, 10, 2, false>(), entry<T, 2, 16, 2, true>(),
    entry<T, 2, 16, 2, false>(), entry<T, 4, 10, 4, true>(),  entry<T, 4, 10, 4, false>(),
    entry<T, 2, 8, 2, true>(),   entry<T, 2, 8, 2, false>(),  entry<T, 2, 6, 2, false>(),
    entry<T, 2, 12, 2, true>(),
};

}  // namespace

template <class T>
const Kernels<T>* find(const MlpSpec& spec) {
  const auto& w = spec.widths;
  if (w.size() != 3 || spec.activation != Activation::tanh) return nullptr;
  for (const Entry<T>& e : table<T>)
    if (e.state == w[0] && e.hidden == w[1] && e.out == w[2] && e.time == spec.time_input)
      return e.kernels;
  return nullptr;
}

template const Kernels<float>* find(const MlpSpec&);
template const Kernels<double>* find(const MlpSpec&);

}  // namespace revode::small_mlp
