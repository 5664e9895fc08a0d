// The space-time Lévy area of the virtual Brownian tree (LevyArea::space_time): E[H] = 0,
// Var[H] = h/12, H independent of W on the same interval and of H on a disjoint one, Chen's
// relation for adjacent intervals to round-off, bit-identical answers whatever the query order
// and across forward and backward walks; on dyadic intervals (tree nodes) and on arbitrary ones
// (the bridge with area inside a leaf, with a coarse tolerance so that the leaves are wide).
// And the increment-only tree's path is the one it has always been.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "revode/core/error.hpp"
#include "revode/sde/brownian_tree.hpp"

namespace revode {
namespace {

constexpr Index kPaths = 20000;  // columns = independent paths; 4σ bounds below

struct WH {
  Batch<double> w, h;
};

WH increments(const BrownianTree& tree, double s, double t, Index paths = kPaths) {
  WH out{Batch<double>(tree.noise_dim(), paths), Batch<double>(tree.noise_dim(), paths)};
  tree.increment_with_area(s, t, out.w, out.h);
  return out;
}

double covariance(const Eigen::Ref<const Eigen::RowVectorXd>& a,
                  const Eigen::Ref<const Eigen::RowVectorXd>& b) {
  return ((a.array() - a.mean()) * (b.array() - b.mean())).sum() / double(a.size() - 1);
}

// The fine tree's leaves are 2^-40 wide, so its queries are (almost) on nodes; the coarse one's
// are 1/8 of the span, so most queries go through the within-leaf interpolation.
const double kTolerances[] = {0x1p-40, 0x1p-3};

TEST(LevyArea, AreaHasMeanZeroVarianceOneTwelfthOfTheLengthAndIsIndependentOfW) {
  for (double tolerance : kTolerances) {
    const BrownianTree tree(0.0, 2.0, 2, 11, tolerance, LevyArea::space_time);
    // On the coarse tree (leaves [k/4, (k + 1)/4]) both ends of each interval lie in different
    // leaves: two queries inside one leaf share its two normals and are not jointly Brownian
    // (brownian_tree.cpp), which is why the tolerance must be below the step.
    std::vector<std::pair<double, double>> intervals{
        {0.0, 2.0}, {0.25, 0.5}, {0.3, 0.7123}, {1.0 / 3.0, 1.9}, {0.61, 0.91}};
    if (tolerance < 1e-6) intervals.emplace_back(0.61, 0.66);
    for (auto [s, t] : intervals) {
      const WH x = increments(tree, s, t);
      const double h = t - s;
      for (Index i = 0; i < 2; ++i) {
        const double var_h = covariance(x.h.row(i), x.h.row(i));
        const double var_w = covariance(x.w.row(i), x.w.row(i));
        const double corr = covariance(x.h.row(i), x.w.row(i)) / std::sqrt(var_h * var_w);
        const auto where = ::testing::Message() << "[" << s << ", " << t << "] tol " << tolerance;
        EXPECT_LT(std::abs(x.h.row(i).mean()), 4 * std::sqrt(h / 12 / kPaths)) << where;
        EXPECT_LT(std::abs(var_h - h / 12), 4 * (h / 12) * std::sqrt(2.0 / kPaths)) << where;
        EXPECT_LT(std::abs(var_w - h), 4 * h * std::sqrt(2.0 / kPaths)) << where;
        EXPECT_LT(std::abs(corr), 4 / std::sqrt(double(kPaths))) << where;
      }
    }
  }
}

TEST(LevyArea, DisjointIntervalsAndComponentsAreUncorrelated) {
  for (double tolerance : kTolerances) {
    const BrownianTree tree(0.0, 1.0, 2, 5, tolerance, LevyArea::space_time);
    const WH a = increments(tree, 0.1, 0.45), b = increments(tree, 0.45, 0.93);
    const double bound = 4 / std::sqrt(double(kPaths));
    auto corr = [](const auto& x, const auto& y) {
      return covariance(x, y) / std::sqrt(covariance(x, x) * covariance(y, y));
    };
    for (Index i = 0; i < 2; ++i) {
      EXPECT_LT(std::abs(corr(a.h.row(i), b.h.row(i))), bound) << tolerance;
      EXPECT_LT(std::abs(corr(a.h.row(i), b.w.row(i))), bound) << tolerance;
      EXPECT_LT(std::abs(corr(a.w.row(i), b.h.row(i))), bound) << tolerance;
      EXPECT_LT(std::abs(corr(a.w.row(i), b.w.row(i))), bound) << tolerance;
    }
    EXPECT_LT(std::abs(corr(a.h.row(0), a.h.row(1))), bound) << tolerance;
  }
}

// Integrating W − W_a over [a, c] = [a, b] ∪ [b, c] gives, with h1 = b − a, h2 = c − b,
//   (h1 + h2) H_{a,c} = h1 H_{a,b} + h2 H_{b,c} + (h2 W_{a,b} − h1 W_{b,c}) / 2
// (brownian_tree.cpp derives it). It holds for every path, so to round-off.
TEST(LevyArea, ChensRelationHoldsToRoundOff) {
  for (double tolerance : kTolerances) {
    const BrownianTree tree(-1.0, 3.0, 3, 8, tolerance, LevyArea::space_time);
    for (auto [a, b, c] : {std::tuple{-1.0, 1.0, 3.0}, {0.1, 0.35, 0.37}, {-0.7, 2.2, 2.9}}) {
      const WH ab = increments(tree, a, b, 500), bc = increments(tree, b, c, 500),
               ac = increments(tree, a, c, 500);
      const double h1 = b - a, h2 = c - b;
      const Batch<double> lhs = (h1 + h2) * ac.h;
      const Batch<double> rhs = h1 * ab.h + h2 * bc.h + (h2 * ab.w - h1 * bc.w) / 2;
      EXPECT_LT((lhs - rhs).cwiseAbs().maxCoeff(), 1e-12) << a << " " << b << " " << c;
      EXPECT_LT((ac.w - ab.w - bc.w).cwiseAbs().maxCoeff(), 1e-12) << a << " " << b << " " << c;
      // And the relation is not trivially satisfied: H_{a,c} is not the plain average.
      EXPECT_GT((lhs - h1 * ab.h - h2 * bc.h).cwiseAbs().maxCoeff(), 1e-3);
    }
  }
}

TEST(LevyArea, AnswersDoNotDependOnQueryOrderOrInstance) {
  for (double tolerance : kTolerances) {
    const BrownianTree tree(0.0, 1.0, 3, 42, tolerance, LevyArea::space_time);
    const BrownianTree again(0.0, 1.0, 3, 42, tolerance, LevyArea::space_time);
    const BrownianTree other(0.0, 1.0, 3, 43, tolerance, LevyArea::space_time);
    const BrownianTree plain(0.0, 1.0, 3, 42, tolerance);
    std::vector<std::pair<double, double>> steps;  // a step grid off the dyadic points
    for (int k = 0; k < 37; ++k) steps.emplace_back(k / 37.0, (k + 1) / 37.0);
    Batch<double> w(3, 4), h(3, 4), w_only(3, 4);
    std::vector<WH> forwards;
    for (auto [s, t] : steps) {
      tree.increment_with_area(s, t, w, h);
      forwards.push_back({w, h});
    }
    std::vector<std::size_t> order(steps.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::mt19937 shuffle(3);
    for (int pass = 0; pass < 3; ++pass) {
      // pass 0 walks backwards (a gradient's backward pass), 1 and 2 in random orders with other
      // trees' queries in between.
      if (pass == 0)
        std::reverse(order.begin(), order.end());
      else
        std::shuffle(order.begin(), order.end(), shuffle);
      for (std::size_t k : order) {
        other.increment_with_area(steps[k].first, steps[k].second, w, h);
        plain.increment(steps[k].first, steps[k].second, w_only);
        const BrownianTree& asked = pass == 2 ? again : tree;
        asked.increment_with_area(steps[k].first, steps[k].second, w, h);
        EXPECT_EQ(w, forwards[k].w) << "pass " << pass << " step " << k;
        EXPECT_EQ(h, forwards[k].h) << "pass " << pass << " step " << k;
        // W alone from the same tree is the same W.
        asked.increment(steps[k].first, steps[k].second, w_only);
        EXPECT_EQ(w_only, forwards[k].w) << "pass " << pass << " step " << k;
      }
    }
  }
}

TEST(LevyArea, EndsOfALeafAreContinuous) {
  // The bridge with area returns the leaf's end values at its ends: queries just inside a leaf
  // are close to the node values.
  const BrownianTree tree(0.0, 1.0, 1, 4, 0x1p-3, LevyArea::space_time);
  Batch<double> w(1, 1), h(1, 1), w_near(1, 1), h_near(1, 1);
  tree.increment_with_area(0.0, 0.375, w, h);
  tree.increment_with_area(0.0, 0.375 - 1e-12, w_near, h_near);
  EXPECT_NEAR(w(0, 0), w_near(0, 0), 1e-5);
  EXPECT_NEAR(h(0, 0), h_near(0, 0), 1e-5);
  tree.increment_with_area(0.0, 0.25 + 1e-12, w_near, h_near);
  tree.increment_with_area(0.0, 0.25, w, h);
  EXPECT_NEAR(w(0, 0), w_near(0, 0), 1e-5);
  EXPECT_NEAR(h(0, 0), h_near(0, 0), 1e-5);
}

TEST(LevyArea, TheIncrementOnlyPathIsUnchanged) {
  // W of main's tree before space-time area existed (printed with %a from that build, and
  // bit-identical to this one's on the machine where it was written): the increment-only path
  // is the same draws. Compared to a few ulps, not bit for bit, because Box–Muller's log, sin
  // and cos come from the C library, whose last bit may differ between builds of it (glibc
  // picks FMA variants by CPU); another path would differ at O(1).
  const BrownianTree w(0.0, 2.0, 3, 12345);
  Batch<double> out(3, 2);
  auto expect_close = [](double value, double main_value) {
    EXPECT_NEAR(value, main_value, 1e-14 * std::abs(main_value));
  };
  w.value(0.3, out);
  expect_close(out(0, 0), -0x1.7705c01bb82ddp-2);
  expect_close(out(2, 1), 0x1.c4cdf2646a83cp-1);
  w.value(1.7, out);
  expect_close(out(1, 0), -0x1.79626c57f1d15p-1);
  w.increment(0.25, 1.3, out);
  expect_close(out(0, 0), 0x1.826659da26f4p-5);
  expect_close(out(2, 1), -0x1.afed685720d0dp-2);
  EXPECT_EQ(w.levy_area(), LevyArea::none);
}

TEST(LevyArea, BadInputIsNamed) {
  Batch<double> w(1, 1), h(1, 1);
  const BrownianTree plain(0.0, 1.0, 1, 0);
  try {
    plain.increment_with_area(0.1, 0.2, w, h);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("LevyArea::space_time"), std::string::npos) << e.what();
  }
  const BrownianTree tree(0.0, 1.0, 1, 0, 0x1p-40, LevyArea::space_time);
  EXPECT_THROW(tree.increment_with_area(0.2, 0.2, w, h), Error);
  EXPECT_THROW(tree.increment_with_area(0.2, 1.5, w, h), Error);
  Batch<double> wrong(1, 2);
  EXPECT_THROW(tree.increment_with_area(0.1, 0.2, w, wrong), Error);
}

}  // namespace
}  // namespace revode
