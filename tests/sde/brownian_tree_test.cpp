// The virtual Brownian tree: the law of its increments (mean, variance, independence of
// disjoint intervals and of components), W(a, c) = W(a, b) + W(b, c), bit-identical answers
// whatever the query order and across instances, and its named errors.
#include "revode/sde/brownian_tree.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "revode/core/error.hpp"

namespace revode {
namespace {

constexpr Index kPaths = 20000;  // columns = independent paths; 4σ bounds below

Batch<double> increments(const BrownianTree& w, double s, double t) {
  Batch<double> out(w.noise_dim(), kPaths);
  w.increment(s, t, out);
  return out;
}

TEST(BrownianTree, IncrementsHaveMeanZeroAndVarianceTheirLength) {
  const BrownianTree w(0.0, 2.0, 2, 11);
  for (auto [s, t] : {std::pair{0.0, 2.0}, {0.3, 0.7}, {1.0 / 3.0, 1.9}, {0.25, 0.5}}) {
    const Batch<double> dw = increments(w, s, t);
    for (Index i = 0; i < 2; ++i) {
      const double mean = dw.row(i).mean();
      const double var = (dw.row(i).array() - mean).square().sum() / double(kPaths - 1);
      EXPECT_LT(std::abs(mean), 4 * std::sqrt((t - s) / kPaths)) << s << " " << t;
      // Var of the sample variance of N(0, v): 2 v² / (n − 1).
      EXPECT_LT(std::abs(var - (t - s)), 4 * (t - s) * std::sqrt(2.0 / kPaths)) << s << " " << t;
    }
  }
}

TEST(BrownianTree, DisjointIntervalsAndComponentsAreUncorrelated) {
  const BrownianTree w(0.0, 1.0, 2, 5);
  const Batch<double> a = increments(w, 0.1, 0.4), b = increments(w, 0.4, 0.9);
  auto correlation = [](const auto& x, const auto& y) {
    const double mx = x.mean(), my = y.mean();
    return ((x.array() - mx) * (y.array() - my)).sum() /
           std::sqrt((x.array() - mx).square().sum() * (y.array() - my).square().sum());
  };
  const double bound = 4.0 / std::sqrt(double(kPaths));
  EXPECT_LT(std::abs(correlation(a.row(0), b.row(0))), bound);
  EXPECT_LT(std::abs(correlation(a.row(1), b.row(1))), bound);
  EXPECT_LT(std::abs(correlation(a.row(0), a.row(1))), bound);
  // Squares too: independence, not only zero correlation, for a Gaussian bridge construction.
  EXPECT_LT(
      std::abs(correlation(a.row(0).array().square().matrix(), b.row(0).array().square().matrix())),
      bound);
}

TEST(BrownianTree, IncrementsAddUp) {
  const BrownianTree w(-1.0, 3.0, 3, 42);
  Batch<double> ac(3, 16), ab(3, 16), bc(3, 16);
  for (auto [a, b, c] : {std::tuple{-1.0, 0.2, 3.0}, {0.1, 0.35, 2.2}, {-0.5, 1.0 / 7, 0.5}}) {
    w.increment(a, c, ac);
    w.increment(a, b, ab);
    w.increment(b, c, bc);
    EXPECT_LT((ac - ab - bc).cwiseAbs().maxCoeff(), 1e-14);
  }
}

TEST(BrownianTree, AnswersDoNotDependOnQueryOrderOrInstance) {
  std::vector<double> ts;
  for (int k = 0; k <= 40; ++k) ts.push_back(0.5 + 1.5 * k / 40.0);
  ts.push_back(0.5 + 1.0 / 3.0);
  auto query_all = [&](const BrownianTree& w, const std::vector<double>& order) {
    std::vector<Batch<double>> out(ts.size(), Batch<double>(2, 3));
    for (double t : order) {
      const auto k = std::size_t(std::find(ts.begin(), ts.end(), t) - ts.begin());
      w.value(t, out[k]);
    }
    return out;
  };
  const BrownianTree w(0.5, 2.0, 2, 7);
  const auto forward = query_all(w, ts);
  std::vector<double> backward(ts.rbegin(), ts.rend()), shuffled = ts;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(3));
  const auto b = query_all(w, backward);
  const auto s = query_all(BrownianTree(0.5, 2.0, 2, 7), shuffled);
  for (std::size_t k = 0; k < ts.size(); ++k) {
    EXPECT_TRUE((forward[k].array() == b[k].array()).all()) << ts[k];
    EXPECT_TRUE((forward[k].array() == s[k].array()).all()) << ts[k];
  }
  // Column c is the path of (seed, c): a sub-batch starting at column 1 sees the same path.
  Batch<double> one(2, 1);
  w.value(ts[5], one, 1);
  EXPECT_TRUE((one.col(0).array() == forward[5].col(1).array()).all());
  // Another seed, another path.
  Batch<double> other(2, 3);
  BrownianTree(0.5, 2.0, 2, 8).value(ts[5], other);
  EXPECT_FALSE((other.array() == forward[5].array()).all());
  // W(t0) = 0.
  Batch<double> start(2, 3);
  w.value(0.5, start);
  EXPECT_TRUE(start.isZero(0.0));
}

TEST(BrownianTree, BadInputIsNamed) {
  auto message = [](auto&& body) {
    try {
      body();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { BrownianTree(0, 1, 1, -1); }).find("seed -1 is outside its range"),
            std::string::npos);
  EXPECT_NE(message([] { BrownianTree(1, 1, 1, 0); }).find("finite t0 < t1"), std::string::npos);
  EXPECT_NE(message([] { BrownianTree(0, 1, 0, 0); }).find("dimension 0"), std::string::npos);
  EXPECT_NE(message([] { BrownianTree(0, 1, 1, 0, 0.0); }).find("tolerance"), std::string::npos);
  const BrownianTree w(0, 1, 1, 0);
  Batch<double> out(1, 1);
  EXPECT_NE(message([&] { w.value(1.5, out); }).find("outside its interval"), std::string::npos);
  EXPECT_NE(message([&] { w.value(std::nan(""), out); }).find("outside its interval"),
            std::string::npos);
}

}  // namespace
}  // namespace revode
