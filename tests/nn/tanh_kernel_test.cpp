// The packet tanh (src/nn/tanh_packet.hpp) through revode::activate, the entry every tanh
// layer's batch path takes: its ulp bound against std::tanh on a dense sample of [−20, 20]
// plus clusters where it is hardest (the branch point 0.625, where tanh rounds to ±1, tiny
// and subnormal inputs), oddness and monotonicity on the same points, and the special
// values. docs/performance.md ("Session 6: tanh") has the measured figures these bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "revode/nn/activation.hpp"

namespace revode {
namespace {

/// Distance in units in the last place, counting across zero (±0 are 0 apart).
template <class T>
std::int64_t ulp_distance(T a, T b) {
  using Bits = std::conditional_t<sizeof(T) == 8, std::int64_t, std::int32_t>;
  const auto ordered = [](T v) -> std::int64_t {
    const auto i = static_cast<std::int64_t>(std::bit_cast<Bits>(v));
    return i < 0 ? std::int64_t(std::numeric_limits<Bits>::min()) - i : i;
  };
  const std::int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

/// The sorted sample: n evenly spaced points of [0, 20] and 2000 consecutive floating-point
/// values either side of each cluster centre (the caller mirrors them to [−20, 0]).
template <class T>
std::vector<T> positive_sample(Index n, T saturation) {
  std::vector<T> x;
  for (Index i = 0; i < n; ++i) x.push_back(T(20.0 * double(i) / double(n - 1)));
  for (const T centre : {T(0.625), saturation, T(1e-5), std::numeric_limits<T>::min()}) {
    T up = centre;
    T down = centre;
    for (int i = 0; i < 2000; ++i) {
      x.push_back(up = std::nextafter(up, T(100)));
      x.push_back(down = std::nextafter(down, T(0)));
    }
  }
  std::sort(x.begin(), x.end());
  x.erase(std::unique(x.begin(), x.end()), x.end());
  return x;
}

template <class T>
void expect_accurate_odd_monotone(Index n, T saturation, std::int64_t max_ulp) {
  const std::vector<T> pos = positive_sample<T>(n, saturation);
  const Index m = static_cast<Index>(pos.size());
  Batch<T> x(1, 2 * m);  // −pos reversed, then pos: sorted, and x(m + i) = −x(m − 1 − i)
  for (Index i = 0; i < m; ++i) {
    x(0, m + i) = pos[i];
    x(0, m - 1 - i) = -pos[i];
  }
  Batch<T> t = x;
  activate<T>(Activation::tanh, t);
  std::int64_t worst = 0;
  T worst_x = 0;
  for (Index i = 0; i < 2 * m; ++i) {
    const T want = static_cast<T>(std::tanh(static_cast<double>(x(0, i))));
    const std::int64_t d = ulp_distance(t(0, i), want);
    if (d > worst) worst = d, worst_x = x(0, i);
  }
  ::testing::Test::RecordProperty("max_ulp", static_cast<int>(worst));
  EXPECT_LE(worst, max_ulp) << "worst at x = " << worst_x;
  Index not_odd = 0;
  Index not_monotone = 0;
  using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  for (Index i = 0; i < m; ++i)
    if (std::bit_cast<Bits>(t(0, m + i)) != std::bit_cast<Bits>(T(-t(0, m - 1 - i)))) ++not_odd;
  std::int64_t worst_reversal = 0;
  for (Index i = 1; i < 2 * m; ++i)
    if (t(0, i) < t(0, i - 1)) {
      ++not_monotone;
      worst_reversal = std::max(worst_reversal, ulp_distance(t(0, i), t(0, i - 1)));
    }
  EXPECT_EQ(not_odd, 0);
  // Monotone in the release build; the -O2 sanitizer build rounds 2 of the 4·10⁶ double
  // points one ulp out of order. The old kernel reversed 564 of them, so a few 1-ulp
  // reversals are allowed and anything more fails.
  ::testing::Test::RecordProperty("reversals", static_cast<int>(not_monotone));
  EXPECT_LE(not_monotone, 8);
  EXPECT_LE(worst_reversal, 1);
}

TEST(TanhKernelTest, DoubleWithin3UlpOddAndMonotone) {
  // Measured: max 2 ulp; the old kernel was 3 ulp, not monotone near ±1 (564 of these
  // points) and gave tanh(−0) = +0.
  expect_accurate_odd_monotone<double>(2'000'001, 19.06, 3);  // 4·10⁶ points
}

TEST(TanhKernelTest, FloatWithin2UlpOddAndMonotone) {
  // Measured: max 1 ulp against std::tanh in double rounded to float.
  expect_accurate_odd_monotone<float>(500'001, 9.01f, 2);
}

template <class T>
void expect_special_values() {
  using L = std::numeric_limits<T>;
  const std::vector<T> in{T(0),          T(-0.0),        L::denorm_min(), -L::denorm_min(),
                          L::min() / 4,  -L::min() / 4,  L::min(),        T(1e-20),
                          L::infinity(), -L::infinity(), L::max(),        -L::max(),
                          T(30),         T(-30),         T(0.625),        T(-0.625)};
  Batch<T> x(1, static_cast<Index>(in.size()) + 1);
  for (std::size_t i = 0; i < in.size(); ++i) x(0, static_cast<Index>(i)) = in[i];
  x(0, x.cols() - 1) = L::quiet_NaN();
  Batch<T> t = x;
  Batch<T> d(x.rows(), x.cols());
  activate<T>(Activation::tanh, t, d);
  for (std::size_t i = 0; i < in.size(); ++i) {
    const T got = t(0, static_cast<Index>(i));
    const T want = std::tanh(in[i]);
    EXPECT_LE(ulp_distance(got, want), 1) << "tanh(" << in[i] << ") = " << got;
    EXPECT_EQ(std::signbit(got), std::signbit(want)) << "tanh(" << in[i] << ") = " << got;
  }
  EXPECT_TRUE(std::isnan(t(0, x.cols() - 1)));
  EXPECT_TRUE(std::isnan(d(0, x.cols() - 1)));
  EXPECT_EQ(t(0, 1), T(0));
  EXPECT_TRUE(std::signbit(t(0, 1)));   // tanh(−0) = −0
  EXPECT_EQ(t(0, 2), L::denorm_min());  // tanh(x) = x for subnormal x
  EXPECT_EQ(t(0, 8), T(1));             // +inf
  EXPECT_EQ(t(0, 9), T(-1));            // −inf
  EXPECT_EQ(d(0, 8), T(0));
}

TEST(TanhKernelTest, DoubleSpecialValues) { expect_special_values<double>(); }
TEST(TanhKernelTest, FloatSpecialValues) { expect_special_values<float>(); }

}  // namespace
}  // namespace revode
