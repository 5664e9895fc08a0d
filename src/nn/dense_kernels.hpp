/// Batch-1 kernels of one dense layer, written by hand on purpose (the guide's "hot numerical
/// kernels"): at batch 1 a neural ODE's cost is almost entirely these two loops, and Eigen's
/// general gemv/outer-product paths leave a factor of two on the table at 64×64.
/// W is rows × cols, column-major with column stride ld (unit inner stride). Internal to
/// src/nn.
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>

#include <Eigen/Core>

#include "revode/core/types.hpp"
#include "tanh_packet.hpp"

namespace revode::dense {

namespace ei = Eigen::internal;

/// Stores the first m < packet size lanes of p at to: a fixed-trip loop of conditional scalar
/// stores, unrolled. std::copy of a run-time length was a memmove call per layer (3% of the
/// white-dwarf gradient; this is 3–6% faster there), and AVX-512 masked stores measured
/// slower still on this AMD core (docs/performance.md, lever 5).
template <class T, class P>
inline void store_first(T* to, const P& p, Index m) {
  constexpr Index n = ei::unpacket_traits<P>::size;
  alignas(64) T buffer[n];
  ei::pstore(buffer, p);
#pragma GCC unroll 16
  for (Index i = 0; i < n; ++i)
    if (i < m) to[i] = buffer[i];
}

/// out[0 : NP·n] = b + Σ_j W[:, j] x[j] for one block of NP packets of rows; w and b point
/// at the block's first row, ld is W's column stride. Whole columns go through NP registers,
/// so each accumulator sees one FMA per column and the loop is bound by loading W (from L2
/// once W outgrows L1, as 64×64 double does), not by FMA latency. With Tanh the activation is
/// applied to the registers before they are stored (out = σ(z), derivative = σ'(z) unless
/// null), so z never goes through memory.
template <class T, int NP, bool Tanh>
void forward_block(const T* w, Index ld, Index cols, const T* x, const T* b, T* out,
                   T* derivative) {
  using P = typename ei::packet_traits<T>::type;
  constexpr Index n = ei::packet_traits<T>::size;
  P acc[NP];
  for (int k = 0; k < NP; ++k) acc[k] = ei::ploadu<P>(b + k * n);
  for (Index j = 0; j < cols; ++j) {
    const P xj = ei::pset1<P>(x[j]);
    const T* wj = w + j * ld;
    for (int k = 0; k < NP; ++k) acc[k] = ei::pmadd(ei::ploadu<P>(wj + k * n), xj, acc[k]);
  }
  if constexpr (Tanh) {
    const P one = ei::pset1<P>(T(1));
    for (int k = 0; k < NP; ++k) {
      const P t = tanh_kernel::tanh_packet(acc[k]);
      ei::pstoreu(out + k * n, t);
      if (derivative != nullptr)
        ei::pstoreu(derivative + k * n, ei::pmul(ei::psub(one, t), ei::padd(one, t)));
    }
  } else {
    for (int k = 0; k < NP; ++k) ei::pstoreu(out + k * n, acc[k]);
  }
}

/// out = W x + b at batch 1 (rows × cols W, column stride ld ≥ rows), or with Tanh out =
/// tanh(W x + b) and derivative = 1 − out² (unless null), as activation.cpp's tanh computes
/// them. Rows go in blocks of up to 8 packets; rows left over after the last whole packet
/// (all of a thin output layer's) take a scalar loop with four partial sums per row, so its
/// dependency chains are a quarter as long, and then one padded tanh packet. out must not
/// alias x. padded_tail: the caller has checked tail_readable.
template <class T, bool Tanh = false>
void forward(const T* w, Index ld, Index rows, Index cols, const T* x, const T* b, T* out,
             T* derivative = nullptr, bool padded_tail = false) {
  using P = typename ei::packet_traits<T>::type;
  constexpr Index n = ei::packet_traits<T>::size;
  Index r = 0;
  for (; r + 8 * n <= rows; r += 8 * n)
    forward_block<T, 8, Tanh>(w + r, ld, cols, x, b + r, out + r,
                              derivative ? derivative + r : nullptr);
  const auto block = [&](auto np) {
    forward_block<T, decltype(np)::value, Tanh>(w + r, ld, cols, x, b + r, out + r,
                                                derivative ? derivative + r : nullptr);
    r += decltype(np)::value * n;
  };
  switch ((rows - r) / n) {
    case 7: block(std::integral_constant<int, 7>{}); break;
    case 6: block(std::integral_constant<int, 6>{}); break;
    case 5: block(std::integral_constant<int, 5>{}); break;
    case 4: block(std::integral_constant<int, 4>{}); break;
    case 3: block(std::integral_constant<int, 3>{}); break;
    case 2: block(std::integral_constant<int, 2>{}); break;
    case 1: block(std::integral_constant<int, 1>{}); break;
    default: break;
  }
  if (r == rows) return;
  P z;
  if (padded_tail) {
    // Whole-packet loads that run past the last row into memory the caller owns (the next
    // column, the bias, the next layer); the extra lanes are computed and dropped, so the
    // rows never go through a scalar loop or a store-to-load round trip.
    z = ei::ploadu<P>(b + r);
    for (Index j = 0; j < cols; ++j)
      z = ei::pmadd(ei::ploadu<P>(w + j * ld + r), ei::pset1<P>(x[j]), z);
  } else {
    alignas(64) T tail[n] = {};
    for (Index i = r; i < rows; ++i) {
      T s[4] = {b[i], T(0), T(0), T(0)};
      Index j = 0;
      for (; j + 4 <= cols; j += 4)
        for (int k = 0; k < 4; ++k) s[k] += w[i + (j + k) * ld] * x[j + k];
      for (; j < cols; ++j) s[0] += w[i + j * ld] * x[j];
      tail[i - r] = (s[0] + s[1]) + (s[2] + s[3]);
    }
    z = ei::pload<P>(tail);
  }
  if constexpr (Tanh) {
    const P t = tanh_kernel::tanh_packet(z);
    const P one = ei::pset1<P>(T(1));
    if (derivative != nullptr)
      store_first(derivative + r, ei::pmul(ei::psub(one, t), ei::padd(one, t)), rows - r);
    store_first(out + r, t, rows - r);
  } else {
    store_first(out + r, z, rows - r);
  }
}

/// Whether forward may read whole packets past the last row: true when the last column's and
/// the bias's packet both end inside readable memory (w_end, b_end one past the last readable
/// scalar behind W and b).
template <class T>
bool tail_readable(const T* w, Index ld, Index rows, Index cols, const T* w_end, const T* b,
                   const T* b_end) {
  constexpr Index n = ei::packet_traits<T>::size;
  const Index r = rows - rows % n;
  return cols > 0 && w + (cols - 1) * ld + r + n <= w_end && b + r + n <= b_end;
}

/// The cotangent pass of z = W x + b at batch 1 for M columns at once, in one sweep over W's
/// columns:
///   W̄[:, j] += x_m[j] · g_m for m = 0 … M − 1 in turn (accumulate ∂L/∂W, M rank-1 terms)
///   g_in[j] = (W[:, j] · g) · d[j] (Pull: pull g back; d = σ' of the layer below, or none)
/// One VJP is M = 1 with (x_0, g_0) = (x, g); with Pull the last term's g_{M−1} is g. M > 1
/// adds the terms of M VJPs in the order they came with the same FMAs, so W̄ gets the same
/// bits as M sweeps of one term each while it is read and written once (Mlp's deferred weight
/// gradients); M = 0 only pulls back, and without Pull (g unused) the sweep only adds the M
/// terms. Columns go four at a time so the four dot products are independent dependency chains
/// (one column at a time waited on FMA latency; MLP 2→64→64→2 double VJP 1.83 → 1.46 µs). All
/// four x of a block are read before its g_in are written, so an x may alias g_in (y and ȳ at
/// layer 1).
template <class T, int M, bool Pull>
void backward_columns(const T* w, T* w_bar, Index ld, Index rows, Index cols, const T* g,
                      const T* const* xs, const T* const* gs, const T* d, T* g_in) {
  using P = typename ei::packet_traits<T>::type;
  constexpr Index n = ei::packet_traits<T>::size;
  const Index full = rows - rows % n;
  constexpr bool pull = Pull;
  constexpr int Ms = M > 0 ? M : 1;
  // Local copies of the column pointers, so they stay in registers across W̄'s stores.
  eigen_assert(!Pull || M == 0 || gs[M - 1] == g);
  const T* gp[Ms];
  const T* xq[Ms];
  for (int m = 0; m < M; ++m) {
    gp[m] = gs[m];
    xq[m] = xs[m];
  }
  const auto finish = [&](Index j, T dot) { g_in[j] = d != nullptr ? dot * d[j] : dot; };
  // Scalar rows past the last whole packet: explicit fmas, so that every M rounds alike.
  const auto tail = [&](const T* wj, T* bj, const T* xj, T& dot) {
    for (Index i = full; i < rows; ++i) {
      if constexpr (pull) dot = std::fma(wj[i], g[i], dot);
#pragma GCC unroll 8
      for (int m = 0; m < M; ++m) bj[i] = std::fma(xj[m], gp[m][i], bj[i]);
    }
  };
  Index j = 0;
  for (; j + 4 <= cols; j += 4) {
    // Null W (no pull) or W̄ (no terms) is never offset: that would be undefined behaviour.
    const T* w0 = pull ? w + j * ld : nullptr;
    T* b0 = M > 0 ? w_bar + j * ld : nullptr;
    T xk[4][Ms];
    P xp[4][Ms];
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)
#pragma GCC unroll 8
      for (int m = 0; m < M; ++m) {
        xk[k][m] = xq[m][j + k];
        xp[k][m] = ei::pset1<P>(xk[k][m]);
      }
    P acc[4] = {ei::pzero(P{}), ei::pzero(P{}), ei::pzero(P{}), ei::pzero(P{})};
    for (Index i = 0; i < full; i += n) {
      P gi;
      if constexpr (pull) gi = ei::ploadu<P>(g + i);
      P gm[Ms];
#pragma GCC unroll 8
      for (int m = 0; m < M; ++m) gm[m] = pull && m == M - 1 ? gi : ei::ploadu<P>(gp[m] + i);
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        if constexpr (pull) acc[k] = ei::pmadd(ei::ploadu<P>(w0 + k * ld + i), gi, acc[k]);
        if constexpr (M > 0) {
          T* b = b0 + k * ld + i;
          P bk = ei::ploadu<P>(b);
#pragma GCC unroll 8
          for (int m = 0; m < M; ++m) bk = ei::pmadd(xp[k][m], gm[m], bk);
          ei::pstoreu(b, bk);
        }
      }
    }
    T dots[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      dots[k] = pull ? ei::predux(acc[k]) : T(0);
      tail(pull ? w0 + k * ld : nullptr, M > 0 ? b0 + k * ld : nullptr, xk[k], dots[k]);
    }
    if constexpr (pull)
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) finish(j + k, dots[k]);
  }
  // The last cols % 4 columns (both of the reference network's 64 × 2 first layer) run down
  // whole packets too: a scalar loop made each column one chain of `rows` dependent FMAs.
  for (; j < cols; ++j) {
    const T* wj = pull ? w + j * ld : nullptr;
    T* bj = M > 0 ? w_bar + j * ld : nullptr;
    T xj[Ms];
    P xp[Ms];
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) {
      xj[m] = xq[m][j];
      xp[m] = ei::pset1<P>(xj[m]);
    }
    P acc = ei::pzero(P{});
    for (Index i = 0; i < full; i += n) {
      if constexpr (pull) acc = ei::pmadd(ei::ploadu<P>(wj + i), ei::ploadu<P>(g + i), acc);
      if constexpr (M > 0) {
        P b = ei::ploadu<P>(bj + i);
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m) b = ei::pmadd(xp[m], ei::ploadu<P>(gp[m] + i), b);
        ei::pstoreu(bj + i, b);
      }
    }
    T dot = pull ? ei::predux(acc) : T(0);
    tail(wj, bj, xj, dot);
    if constexpr (pull) finish(j, dot);
  }
}

/// One VJP's sweep (M = 1 above): W̄ += g xᵀ and g_in = (Wᵀ g) ⊙ d.
template <class T>
void backward_columns(const T* w, T* w_bar, Index ld, Index rows, Index cols, const T* g,
                      const T* x, const T* d, T* g_in) {
  const T* const xs[1] = {x};
  const T* const gs[1] = {g};
  backward_columns<T, 1, true>(w, w_bar, ld, rows, cols, g, xs, gs, d, g_in);
}

}  // namespace revode::dense
