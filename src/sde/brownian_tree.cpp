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

}  // namespace

BrownianTree::BrownianTree(double t0, double t1, Index noise_dim, std::int64_t seed,
                           double tolerance)
    : t0_(t0), t1_(t1), noise_dim_(noise_dim), seed_(seed) {
  require(std::isfinite(t0) && std::isfinite(t1) && t0 < t1,
          "Brownian motion on [{}, {}]: required: finite t0 < t1", t0, t1);
  require(noise_dim >= 1, "Brownian motion of dimension {}; required: >= 1", noise_dim);
  require(seed >= 0, "Brownian seed {} is outside its range [0, {}]", seed, kMaxBrownianSeed);
  require(tolerance >= 0x1p-60 && tolerance < 1.0,
          "Brownian tree tolerance {}; required: in [2^-60, 1) (relative to t1 - t0)", tolerance);
  levels_ = int(std::ceil(-std::log2(tolerance)));
  if (levels_ > kMaxLevels) levels_ = kMaxLevels;
}

void BrownianTree::normals(std::uint64_t node, Index column, double* out) const {
  using Philox = r123::Philox4x64;
  const Philox rng;
  const Philox::key_type key = {{std::uint64_t(seed_), std::uint64_t(column)}};
  for (Index j = 0; j < noise_dim_; j += 4) {
    const Philox::ctr_type counter = {{node, std::uint64_t(j / 4), 0, 0}};
    const Philox::ctr_type bits = rng(counter, key);
    const r123::double2 a = r123::boxmuller(bits.v[0], bits.v[1]);
    out[j] = a.x;
    if (j + 1 < noise_dim_) out[j + 1] = a.y;
    if (j + 2 >= noise_dim_) continue;  // the second pair only when it is used (m = 1, 2)
    const r123::double2 b = r123::boxmuller(bits.v[2], bits.v[3]);
    out[j + 2] = b.x;
    if (j + 3 < noise_dim_) out[j + 3] = b.y;
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

void BrownianTree::value(double t, Eigen::Ref<Batch<double>> out, Index first_column) const {
  // A float32 solve asks at its own rounding of the end times (0.1f is past 0.1 by 1.5e-9):
  // a few float ulps of the interval's magnitude are read as the end point itself.
  const double slack =
      4 * double(std::numeric_limits<float>::epsilon()) *
      std::max({std::abs(t0_), std::abs(t1_), t1_ - t0_});
  require(std::isfinite(t) && t >= t0_ - slack && t <= t1_ + slack,
          "Brownian motion queried at t = {}, outside its interval [{}, {}]", t, t0_, t1_);
  require(out.rows() == noise_dim_, "Brownian motion of dimension {} asked for {} rows", noise_dim_,
          out.rows());
  require(first_column >= 0, "Brownian motion: first column {}; required: >= 0", first_column);
  t = t < t0_ ? t0_ : (t > t1_ ? t1_ : t);
  for (Index c = 0; c < out.cols(); ++c) column_value(t, first_column + c, out.col(c).data());
}

namespace {

/// The two W values of this thread's last increment, with everything they are a function of:
/// consecutive steps share an endpoint (forwards W(t_{n+1}) starts the next step; a backward
/// walk's W(t_n) ends the previous one), and W is a pure function of (seed, span, m, levels,
/// columns, t), so reusing it is exact.
struct RecentValues {
  std::int64_t seed = -1;
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
  const bool same_path = recent.seed == seed_ && recent.t0 == t0_ && recent.t1 == t1_ &&
                         recent.noise_dim == noise_dim_ && recent.levels == levels_ &&
                         recent.first_column == first_column && recent.columns == out.cols() &&
                         out.rows() == noise_dim_;
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
  recent.seed = seed_, recent.t0 = t0_, recent.t1 = t1_, recent.noise_dim = noise_dim_;
  recent.levels = levels_, recent.first_column = first_column, recent.columns = out.cols();
  recent.times[0] = s, recent.times[1] = t;
  recent.values[0] = w_s, recent.values[1] = w_t;  // no allocation once sized
  recent.valid[0] = recent.valid[1] = true;
  out = w_t - w_s;
}

}  // namespace revode
