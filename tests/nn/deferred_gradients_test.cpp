// Deferred weight gradients (Mlp::defer_weight_gradients, DeferWeightGradients): a run of
// VJPs into one θ̄ with W̄'s terms kept and added as one product per kDeferredColumns columns
// must give ȳ and b̄ bit for bit the immediate path's and W̄ to round-off, on shapes with and
// without time input and hidden layers, at batch 1 … 31, float and double, with a partly
// filled buffer at the end; the kept terms reach θ̄ when the scope ends; a VJP into another θ̄
// is immediate, and one with another θ flushes.

// GCC 12 false positive inside its own avx512fintrin.h once Eigen's packet code is inlined
// (GCC PR 105593); see src/nn/activation.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include "revode/nn/mlp.hpp"

namespace revode {
namespace {

template <class T>
double relative_error(const Vector<T>& got, const Vector<T>& want) {
  return double((got - want).cwiseAbs().maxCoeff() / want.cwiseAbs().maxCoeff());
}

/// The entries of θ̄ that deferral leaves to the immediate path: every b̄ and, with time input,
/// the t column of W̄_1.
template <class T>
std::vector<Index> immediate_entries(const Mlp<T>& f) {
  std::vector<Index> out;
  for (std::size_t l = 0; l < f.layers().size(); ++l) {
    const LayerShape& s = f.layers()[l];
    for (Index i = 0; i < s.outputs; ++i) out.push_back(s.bias_offset + i);
    if (l == 0 && f.spec().time_input)
      for (Index i = 0; i < s.outputs; ++i) out.push_back(s.weight_offset + i);
  }
  return out;
}

/// `calls` VJPs of `batch` columns at distinct points into one θ̄, deferred or not; returns θ̄
/// and every ȳ.
template <class T>
std::pair<Vector<T>, std::vector<Batch<T>>> run_vjps(const Mlp<T>& f, const Vector<T>& theta,
                                                     Index batch, int calls, bool defer) {
  const Index d = f.state_dim();
  Vector<T> theta_bar = Vector<T>::Zero(f.param_count());
  std::vector<Batch<T>> y_bars;
  {
    std::optional<DeferWeightGradients<T>> deferring;
    if (defer) deferring.emplace(f, theta_bar);
    for (int k = 0; k < calls; ++k) {
      const Batch<T> y = Batch<double>::Random(d, batch).cast<T>();
      const Batch<T> a = Batch<double>::Random(d, batch).cast<T>();
      Batch<T> y_bar(d, batch);
      f.vjp(T(0.01 * k), y, theta, a, y_bar, theta_bar);
      y_bars.push_back(y_bar);
    }
  }
  return {theta_bar, y_bars};
}

template <class T>
void expect_deferred_matches_immediate(double tolerance) {
  for (const auto& [widths, activation, time_input] :
       {std::tuple{"2,64,64,2", Activation::tanh, false},
        std::tuple{"3,10,7,3", Activation::tanh, true}, std::tuple{"5,9,5", Activation::softplus, false},
        std::tuple{"2,2", Activation::tanh, true}, std::tuple{"4,13,21,4", Activation::tanh, false}}) {
    const Mlp<T> f(parse_mlp_spec(widths, activation, time_input));
    const Vector<T> theta = f.init_params(Init::pytorch_default, 4);
    for (const Index batch : {1, 2, 5, 31}) {
      SCOPED_TRACE(::testing::Message() << widths << " batch " << batch);
      // 45 columns at batch 1: one full buffer and a tail of 13; at batch 5, six calls fill 30
      // of 32 columns, so the seventh flushes first; at 31 every call flushes the last.
      const int calls = batch == 1 ? 45 : 9;
      std::srand(7);
      const auto [immediate, immediate_y] = run_vjps(f, theta, batch, calls, false);
      std::srand(7);
      const auto [deferred, deferred_y] = run_vjps(f, theta, batch, calls, true);
      EXPECT_LT(relative_error(deferred, immediate), tolerance);
      EXPECT_TRUE(deferred_y == immediate_y);  // the pull-back does not touch W̄
      for (const Index i : immediate_entries(f)) EXPECT_EQ(deferred[i], immediate[i]) << i;
    }
  }
}

TEST(DeferredWeightGradients, EqualTheImmediatePathToRoundOffDouble) {
  expect_deferred_matches_immediate<double>(1e-13);
}

TEST(DeferredWeightGradients, EqualTheImmediatePathToRoundOffFloat) {
  expect_deferred_matches_immediate<float>(1e-5);
}

/// One VJP at a fixed point, for the scope tests.
struct OneVjp {
  explicit OneVjp(const Mlp<double>& f, Index batch = 1)
      : f(f),
        theta(f.init_params(Init::pytorch_default, 5)),
        y(Batch<double>::Random(f.state_dim(), batch)),
        a(Batch<double>::Random(f.state_dim(), batch)),
        y_bar(f.state_dim(), batch) {}
  void operator()(Vector<double>& theta_bar, const Vector<double>* at = nullptr) {
    f.vjp(0.5, y, at != nullptr ? *at : theta, a, y_bar, theta_bar);
  }
  const Mlp<double>& f;
  Vector<double> theta;
  Batch<double> y, a, y_bar;
};

Vector<double> immediate(OneVjp& vjp, int calls) {
  Vector<double> theta_bar = Vector<double>::Zero(vjp.f.param_count());
  for (int k = 0; k < calls; ++k) vjp(theta_bar);
  return theta_bar;
}

// Until the scope ends θ̄ lacks the kept W̄ terms (its b̄ has them); the end adds them.
TEST(DeferredWeightGradients, ScopeEndFlushesAPartlyFilledBuffer) {
  const Mlp<double> f(parse_mlp_spec("3,16,3", Activation::tanh, true));
  OneVjp vjp(f);
  const Vector<double> want = immediate(vjp, 3);
  Vector<double> theta_bar = Vector<double>::Zero(f.param_count());
  {
    const DeferWeightGradients<double> deferring(f, theta_bar);
    for (int k = 0; k < 3; ++k) vjp(theta_bar);
    const LayerShape& out = f.layers().back();
    EXPECT_EQ(theta_bar[out.weight_offset], 0.0);  // kept, not added
    EXPECT_EQ(theta_bar[out.bias_offset], want[out.bias_offset]);
    EXPECT_EQ(f.deferred_floats(), (3 + 16 + 16 + 3) * Mlp<double>::kDeferredColumns);
  }
  EXPECT_LT(relative_error(theta_bar, want), 1e-14);
  vjp(theta_bar);  // closed: immediate again
  EXPECT_LT(relative_error(theta_bar, immediate(vjp, 4)), 1e-14);
}

// A VJP into another θ̄ takes the immediate path (its θ̄ is complete at once) and leaves the
// target's kept columns; one with θ at another address flushes them first; opening a scope on
// another target flushes the previous target.
TEST(DeferredWeightGradients, OnlyTheTargetDefersAndAnotherThetaFlushes) {
  const Mlp<double> f(parse_mlp_spec("2,12,2"));
  OneVjp vjp(f, 3);
  const Vector<double> once = immediate(vjp, 1), twice = immediate(vjp, 2);
  Vector<double> target = Vector<double>::Zero(f.param_count());
  Vector<double> other = Vector<double>::Zero(f.param_count());
  const Index w = f.layers().back().weight_offset;
  {
    const DeferWeightGradients<double> deferring(f, target);
    vjp(target);
    EXPECT_EQ(target[w], 0.0);
    vjp(other);
    EXPECT_EQ(other, once);  // bit for bit: immediate
    EXPECT_EQ(target[w], 0.0);
    const Vector<double> moved = vjp.theta;  // the same values at another address
    vjp(target, &moved);
    // The first call's terms, flushed (one product, round-off from the immediate one's); the
    // second's kept.
    EXPECT_NEAR(target[w], once[w], 1e-14 * std::abs(once[w]));
    EXPECT_NE(target[w], 0.0);
    {
      const DeferWeightGradients<double> elsewhere(f, other);
      EXPECT_LT(relative_error(target, twice), 1e-14);
    }
  }
  EXPECT_LT(relative_error(target, twice), 1e-14);
  // Batches of kForwardCacheMinBatch columns or more are never deferred.
  OneVjp wide(f, Mlp<double>::kForwardCacheMinBatch);
  Vector<double> wide_bar = Vector<double>::Zero(f.param_count());
  const DeferWeightGradients<double> deferring(f, wide_bar);
  wide(wide_bar);
  EXPECT_EQ(wide_bar, immediate(wide, 1));
}

// An exception unwinding through the scope drops the kept columns rather than adding them.
TEST(DeferredWeightGradients, UnwindingDropsTheKeptColumns) {
  const Mlp<double> f(parse_mlp_spec("2,12,2"));
  OneVjp vjp(f);
  Vector<double> theta_bar = Vector<double>::Zero(f.param_count());
  try {
    const DeferWeightGradients<double> deferring(f, theta_bar);
    vjp(theta_bar);
    throw std::runtime_error("stop");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(theta_bar[f.layers().back().weight_offset], 0.0);
  vjp(theta_bar);  // and the Mlp no longer defers
  EXPECT_NE(theta_bar[f.layers().back().weight_offset], 0.0);
}

}  // namespace
}  // namespace revode
