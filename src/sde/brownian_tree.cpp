/// Virtual Brownian tree over Philox4x64-10 (see brownian_tree.hpp).
#include "revode/sde/brownian_tree.hpp"

#include <Random123/philox.h>

#include <Random123/boxmuller.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "revode/core/error.hpp"

namespace revode {
namespace {

constexpr int kMaxLevels = 60;  // node ids up to 2^61 stay distinct in one 64-bit counter word

// Counter streams of the space-time tree (the increment-only tree draws from stream 0): a node's
// split of (W, H), and the within-leaf interpolation of its leaf.
constexpr std::uint64_t kAreaSplitStream = 1;
constexpr std::uint64_t kAreaLeafStream = 2;

}  // namespace

BrownianTree::BrownianTree(double t0, double t1, Index noise_dim, std::int64_t seed,
                           double tolerance, LevyArea levy_area)
    : t0_(t0), t1_(t1), noise_dim_(noise_dim), seed_(seed), levy_area_(levy_area) {
  require(std::isfinite(t0) && std::isfinite(t1) && t0 < t1,
          "Brownian motion on [{}, {}]: required: finite t0 < t1", t0, t1);
  require(noise_dim >= 1, "Brownian motion of dimension {}; required: >= 1", noise_dim);
  require(seed >= 0, "Brownian seed {} is outside its range [0, {}]", seed, kMaxBrownianSeed);
  require(tolerance >= 0x1p-60 && tolerance < 1.0,
          "Brownian tree tolerance {}; required: in [2^-60, 1) (relative to t1 - t0)", tolerance);
  levels_ = int(std::ceil(-std::log2(tolerance)));
  if (levels_ > kMaxLevels) levels_ = kMaxLevels;
}

void BrownianTree::normals(std::uint64_t node, Index column, double* out, std::uint64_t stream,
                           Index count) const {
  using Philox = r123::Philox4x64;
  const Philox rng;
  const Philox::key_type key = {{std::uint64_t(seed_), std::uint64_t(column)}};
  const Index n = count < 0 ? noise_dim_ : count;
  for (Index j = 0; j < n; j += 4) {
    const Philox::ctr_type counter = {{node, std::uint64_t(j / 4), stream, 0}};
    const Philox::ctr_type bits = rng(counter, key);
    const r123::double2 a = r123::boxmuller(bits.v[0], bits.v[1]);
    out[j] = a.x;
    if (j + 1 < n) out[j + 1] = a.y;
    if (j + 2 >= n) continue;  // the second pair only when it is used (n = 1, 2)
    const r123::double2 b = r123::boxmuller(bits.v[2], bits.v[3]);
    out[j + 2] = b.x;
    if (j + 3 < n) out[j + 3] = b.y;
  }
}

void BrownianTree::column_value(double t, Index column, double* out) const {
  const Index m = noise_dim_;
  // Node 0 draws W(t1); node k ≥ 1 (heap numbering: children 2k, 2k + 1) draws the bridge at
  // the midpoint of its interval.
  thread_local std::vector<double> buffer;
  buffer.resize(std::size_t(3 * m));
  double* w_left = buffer.data();
  double* w_right = w_left + m;
  double* z = w_right + m;
  if (t == t0_) {
    for (Index i = 0; i < m; ++i) out[i] = 0.0;
    return;
  }
  normals(0, column, z);
  double left = t0_, right = t1_;
  const double root_scale = std::sqrt(t1_ - t0_);
  for (Index i = 0; i < m; ++i) w_left[i] = 0.0, w_right[i] = root_scale * z[i];
  std::uint64_t node = 1;
  for (int level = 0; level < levels_ && t != right; ++level) {
    const double mid = left + 0.5 * (right - left);
    if (!(left < mid && mid < right)) break;  // the interval is down to adjacent doubles
    // Brownian bridge: W(mid) | W(left), W(right) ~ N(mean, (right − left) / 4).
    normals(node, column, z);
    const double scale = 0.5 * std::sqrt(right - left);
    double* target = t < mid ? w_right : w_left;
    for (Index i = 0; i < m; ++i) target[i] = 0.5 * (w_left[i] + w_right[i]) + scale * z[i];
    if (t < mid)
      right = mid, node = 2 * node;
    else
      left = mid, node = 2 * node + 1;
    if (t == left) {
      for (Index i = 0; i < m; ++i) out[i] = w_left[i];
      return;
    }
  }
  if (t == right) {
    for (Index i = 0; i < m; ++i) out[i] = w_right[i];
    return;
  }
  const double u = (t - left) / (right - left);  // below the tolerance: linear in t
  for (Index i = 0; i < m; ++i) out[i] = w_left[i] + u * (w_right[i] - w_left[i]);
}

void BrownianTree::check_query(double& t, Index rows, Index first_column) const {
  // A float32 solve asks at its own rounding of the end times (0.1f is past 0.1 by 1.5e-9):
  // a few float ulps of the interval's magnitude are read as the end point itself.
  const double slack = 4 * double(std::numeric_limits<float>::epsilon()) *
                       std::max({std::abs(t0_), std::abs(t1_), t1_ - t0_});
  require(std::isfinite(t) && t >= t0_ - slack && t <= t1_ + slack,
          "Brownian motion queried at t = {}, outside its interval [{}, {}]", t, t0_, t1_);
  require(rows == noise_dim_, "Brownian motion of dimension {} asked for {} rows", noise_dim_,
          rows);
  require(first_column >= 0, "Brownian motion: first column {}; required: >= 0", first_column);
  t = t < t0_ ? t0_ : (t > t1_ ? t1_ : t);
}

void BrownianTree::value(double t, Eigen::Ref<Batch<double>> out, Index first_column) const {
  check_query(t, out.rows(), first_column);
  if (levy_area_ == LevyArea::none) {
    for (Index c = 0; c < out.cols(); ++c) column_value(t, first_column + c, out.col(c).data());
    return;
  }
  thread_local std::vector<double> area;
  area.resize(std::size_t(noise_dim_));
  for (Index c = 0; c < out.cols(); ++c)
    column_value_with_area(t, first_column + c, out.col(c).data(), area.data());
}

namespace {

/// The two W values of this thread's last increment, with everything they are a function of:
/// consecutive steps share an endpoint (forwards W(t_{n+1}) starts the next step; a backward
/// walk's W(t_n) ends the previous one), and W is a pure function of (seed, span, m, levels,
/// columns, t), so reusing it is exact.
struct RecentValues {
  std::int64_t seed = -1;
  LevyArea levy_area = LevyArea::none;
  double t0 = 0, t1 = 0;
  Index noise_dim = 0, first_column = 0, columns = 0;
  int levels = 0;
  double times[2] = {0, 0};
  Batch<double> values[2];
  bool valid[2] = {false, false};
};

}  // namespace

void BrownianTree::increment(double s, double t, Eigen::Ref<Batch<double>> out,
                             Index first_column) const {
  thread_local RecentValues recent;
  thread_local Batch<double> w_s, w_t;
  const bool same_path = recent.seed == seed_ && recent.levy_area == levy_area_ &&
                         recent.t0 == t0_ && recent.t1 == t1_ && recent.noise_dim == noise_dim_ &&
                         recent.levels == levels_ && recent.first_column == first_column &&
                         recent.columns == out.cols() && out.rows() == noise_dim_;
  auto lookup = [&](double time, Batch<double>& w) {
    for (int k = 0; k < 2; ++k)
      if (same_path && recent.valid[k] && recent.times[k] == time) {
        w = recent.values[k];
        return;
      }
    w.resize(out.rows(), out.cols());
    value(time, w, first_column);
  };
  lookup(s, w_s);
  lookup(t, w_t);
  recent.seed = seed_, recent.levy_area = levy_area_;
  recent.t0 = t0_, recent.t1 = t1_, recent.noise_dim = noise_dim_;
  recent.levels = levels_, recent.first_column = first_column, recent.columns = out.cols();
  recent.times[0] = s, recent.times[1] = t;
  recent.values[0] = w_s, recent.values[1] = w_t;  // no allocation once sized
  recent.valid[0] = recent.valid[1] = true;
  out = w_t - w_s;
}

// ---- the space-time tree ----------------------------------------------------------------
//
// Notation (diffrax's, after Foster 2020, "Numerical approximations for stochastic differential
// equations", DPhil thesis, §6.1, and Jelinčič, Foster & Kidger 2024, "Single-seed generation of
// Brownian paths and integrals for adaptive and high order SDE solvers"): for an interval [s, u]
// of length h, A_{s,u} = h H_{s,u} = ∫_s^u (W_r − W_s) dr − h W_{s,u} / 2; H_{s,u} ~ N(0, h/12)
// is independent of W_{s,u}. Integrating W over [a, c] = [a, b] ∪ [b, c] gives Chen's relation
//   A_{a,c} = A_{a,b} + A_{b,c} + ((c − b) W_{a,b} − (b − a) W_{b,c}) / 2,            (★)
// which carries the local A of an interval to Ā(t) = A_{t0,t} = (t − t0) H_{t0,t} and back.
//
// Splitting [s, u] at its midpoint m (Foster's Theorem 6.1.6): given (W_{s,u}, A_{s,u}),
//   W_{s,m} = W_{s,u}/2 + 3/(2h) A_{s,u} + Z,        W_{m,u} = W_{s,u}/2 − 3/(2h) A_{s,u} − Z,
//   A_{s,m} = A_{s,u}/8 − h/4 Z + h/4 N,             A_{m,u} = A_{s,u}/8 − h/4 Z − h/4 N,
// with Z ~ N(0, h/16) and N ~ N(0, h/12) independent. This is the exact Gaussian conditional
// law: the children (W_{s,m}, W_{m,u}, A_{s,m}, A_{m,u}) are independent N(0, h/2), N(0, h/2),
// N(0, h³/96), N(0, h³/96), and the parent is W = W_{s,m} + W_{m,u}, A by (★); then
// E[W_{s,m} | W, A] = W/2 + (h²/8)/(h³/12) A, Var = h/2 − h/4 − 3h/16 = h/16,
// E[A_{s,m} | W, A] = A/8, Var = h³/96 − h³/768 = 7h³/768 = h³/256 + h³/192, and
// Cov = −h²/64 = Cov(Z, −h/4 Z) (checked symbolically and numerically when this was written;
// the children's sums reproduce (W, A) exactly, so the tree is consistent at every level).
//
// Below the tolerance, a query at r ∈ (s, u) of a leaf (sr = r − s, ru = u − r, su = u − s)
// uses Foster's Theorem 6.1.4, the exact conditional law of (W_{s,r}, A_{s,r}) given the
// leaf's (W_{s,u}, A_{s,u}) (the bridge with area), from two normals X1, X2 of the leaf:
//   W_{s,r} = sr/su W_{s,u} + 6 sr ru / su³ A_{s,u} + 2 (a + b)/su X1,
//   A_{s,r} = sr³/su³ A_{s,u} − a X1 + c X2,
//   d = √(sr³ + ru³), a = sr³ √(sr ru) / (2 su d), b = ru³ √(sr ru) / (2 su d),
//   c = √(3 sr³ ru³) / (6 d)
// (the mean and covariance were checked against the Gaussian conditioning for several r).
// Every query in one leaf reuses the leaf's X1, X2, as diffrax does: each single query is
// exact in distribution, and so is any set of queries with at most one inside each leaf (given
// the tree's nodes the Brownian pieces of different leaves are independent); two queries inside
// one leaf, closer than the tolerance, are not jointly Brownian. At r = s or r = u the formula
// returns the leaf's end values exactly (a = b = c = 0), so the path is continuous.

void BrownianTree::column_value_with_area(double t, Index column, double* w, double* area) const {
  const Index m = noise_dim_;
  thread_local std::vector<double> buffer;
  buffer.resize(std::size_t(6 * m));
  // Global W and Ā at the left end s of the current interval; local W_{s,u}, A_{s,u}; draws.
  double* w_s = buffer.data();
  double* a_s = w_s + m;
  double* w_su = a_s + m;
  double* a_su = w_su + m;
  double* z = a_su + m;  // 2m normals
  if (t == t0_) {
    for (Index i = 0; i < m; ++i) w[i] = 0.0, area[i] = 0.0;
    return;
  }
  double left = t0_, right = t1_;
  normals(0, column, z, kAreaSplitStream, 2 * m);
  const double span = t1_ - t0_;
  for (Index i = 0; i < m; ++i) {
    w_s[i] = a_s[i] = 0.0;
    w_su[i] = std::sqrt(span) * z[i];
    a_su[i] = span * std::sqrt(span / 12) * z[m + i];
  }
  // Global values at the right end: (★) on [t0, s] ∪ [s, u].
  auto right_end = [&] {
    for (Index i = 0; i < m; ++i) {
      w[i] = w_s[i] + w_su[i];
      area[i] = a_s[i] + a_su[i] + ((right - left) * w_s[i] - (left - t0_) * w_su[i]) / 2;
    }
  };
  std::uint64_t node = 1;
  for (int level = 0; level < levels_ && t != right; ++level) {
    const double mid = left + 0.5 * (right - left);
    if (!(left < mid && mid < right)) break;  // the interval is down to adjacent doubles
    const double h = right - left;
    normals(node, column, z, kAreaSplitStream, 2 * m);
    for (Index i = 0; i < m; ++i) {
      const double zz = std::sqrt(h) / 4 * z[i], nn = std::sqrt(h / 12) * z[m + i];
      const double w_term = 3 / (2 * h) * a_su[i] + zz, a_term = a_su[i] / 8 - h / 4 * zz;
      const double w_sm = w_su[i] / 2 + w_term, w_mu = w_su[i] / 2 - w_term;
      const double a_sm = a_term + h / 4 * nn, a_mu = a_term - h / 4 * nn;
      if (t < mid) {
        w_su[i] = w_sm, a_su[i] = a_sm;
      } else {
        a_s[i] += a_sm + ((mid - left) * w_s[i] - (left - t0_) * w_sm) / 2;
        w_s[i] += w_sm;
        w_su[i] = w_mu, a_su[i] = a_mu;
      }
    }
    if (t < mid)
      right = mid, node = 2 * node;
    else
      left = mid, node = 2 * node + 1;
    if (t == left) {
      for (Index i = 0; i < m; ++i) w[i] = w_s[i], area[i] = a_s[i];
      return;
    }
  }
  if (t == right) return right_end();
  // Inside a leaf: the bridge with area (Theorem 6.1.4 above).
  normals(node, column, z, kAreaLeafStream, 2 * m);
  const double su = right - left, sr = std::max(t - left, 0.0), ru = std::max(su - sr, 0.0);
  const double d = std::sqrt(sr * sr * sr + ru * ru * ru), root = std::sqrt(sr * ru);
  const double a = sr * sr * sr * root / (2 * su * d), b = ru * ru * ru * root / (2 * su * d);
  const double c = std::sqrt(3 * sr * sr * sr * ru * ru * ru) / (6 * d);
  const double su3 = su * su * su;
  for (Index i = 0; i < m; ++i) {
    const double w_sr = sr / su * w_su[i] + 6 * sr * ru / su3 * a_su[i] + 2 * (a + b) / su * z[i];
    const double a_sr = sr * sr * sr / su3 * a_su[i] - a * z[i] + c * z[m + i];
    w[i] = w_s[i] + w_sr;
    area[i] = a_s[i] + a_sr + (sr * w_s[i] - (left - t0_) * w_sr) / 2;
  }
}

void BrownianTree::increment_with_area(double s, double t, Eigen::Ref<Batch<double>> dw,
                                       Eigen::Ref<Batch<double>> area, Index first_column) const {
  require(levy_area_ == LevyArea::space_time,
          "Brownian motion without Lévy area asked for the space-time Lévy area of [{}, {}] "
          "(build the tree with LevyArea::space_time)",
          s, t);
  require(s < t, "space-time Lévy area of [{}, {}]; required: s < t", s, t);
  check_query(s, dw.rows(), first_column);
  check_query(t, dw.rows(), first_column);
  require(area.rows() == dw.rows() && area.cols() == dw.cols(),
          "space-time Lévy area: {} × {} asked for next to {} × {} increments", area.rows(),
          area.cols(), dw.rows(), dw.cols());
  // Consecutive steps share an end (see RecentValues): W and Ā there are reused, exactly.
  thread_local RecentValues recent_w, recent_area;
  thread_local Batch<double> w_s, a_s, w_t, a_t;
  const Index m = noise_dim_, n = dw.cols();
  const bool same_path = recent_w.seed == seed_ && recent_w.t0 == t0_ && recent_w.t1 == t1_ &&
                         recent_w.noise_dim == m && recent_w.levels == levels_ &&
                         recent_w.first_column == first_column && recent_w.columns == n;
  auto lookup = [&](double time, Batch<double>& w, Batch<double>& a) {
    for (int k = 0; k < 2; ++k)
      if (same_path && recent_w.valid[k] && recent_w.times[k] == time) {
        w = recent_w.values[k], a = recent_area.values[k];
        return;
      }
    w.resize(m, n), a.resize(m, n);
    for (Index col = 0; col < n; ++col)
      column_value_with_area(time, first_column + col, w.col(col).data(), a.col(col).data());
  };
  lookup(s, w_s, a_s);
  lookup(t, w_t, a_t);
  recent_w.seed = seed_, recent_w.levy_area = levy_area_, recent_w.t0 = t0_, recent_w.t1 = t1_;
  recent_w.noise_dim = m, recent_w.levels = levels_, recent_w.first_column = first_column;
  recent_w.columns = n, recent_w.times[0] = s, recent_w.times[1] = t;
  recent_w.values[0] = w_s, recent_w.values[1] = w_t;
  recent_area.values[0] = a_s, recent_area.values[1] = a_t;
  recent_w.valid[0] = recent_w.valid[1] = true;
  dw = w_t - w_s;
  // (★) on [t0, s] ∪ [s, t], solved for A_{s,t}; H_{s,t} = A_{s,t} / (t − s).
  area = (a_t - a_s - ((t - s) * w_s - (s - t0_) * dw) / 2) / (t - s);
}

}  // namespace revode
