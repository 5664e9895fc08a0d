// The fixed-size batch-1 kernels of small one-hidden-layer tanh MLPs (src/nn/small_mlp.hpp):
// which shapes take them, agreement with the generic batch-1 path and with plain Eigen math,
// central differences, NaN and inf, and the forward tape's bit-identity through them.

// GCC 12 false positive inside its own avx512fintrin.h once Eigen's packet code is inlined
// (GCC PR 105593); see src/nn/activation.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "revode/core/error.hpp"
#include "revode/nn/mlp.hpp"

namespace revode {
namespace {

struct Shape {
  const char* widths;
  bool time;
};

// Every shape of the table in src/nn/small_mlp.cpp.
const std::vector<Shape> fixed_shapes = {
    {"2,10,2", true},  {"2,10,2", false}, {"2,16,2", true}, {"2,16,2", false}, {"4,10,4", true},
    {"4,10,4", false}, {"2,8,2", true},   {"2,8,2", false}, {"2,6,2", false},  {"2,12,2", true},
};

std::string label(const Shape& s) { return std::string(s.time ? "t," : "") + s.widths; }

template <class T>
double relative_difference(const Batch<T>& got, const Batch<T>& want) {
  const Batch<double> g = got.template cast<double>(), w = want.template cast<double>();
  return (g - w).cwiseAbs().maxCoeff() / std::max(w.cwiseAbs().maxCoeff(), 1e-300);
}

// One evaluation and one VJP (θ̄ accumulated onto a prior, as solvers do).
template <class T>
struct Result {
  Batch<T> dy, y_bar;
  Vector<T> theta_bar;
};

template <class T>
Result<T> run(const Mlp<T>& f, std::type_identity_t<T> t, const Batch<T>& y, const Vector<T>& theta,
              const Batch<T>& a, const std::type_identity_t<Vector<T>>& prior) {
  Result<T> r{Batch<T>(f.output_dim(), 1), Batch<T>(f.state_dim(), 1), prior};
  f.eval(t, y, theta, r.dy);
  f.vjp(t, y, theta, a, r.y_bar, r.theta_bar);
  return r;
}

TEST(SmallMlpTest, ChosenForTheTableShapesOnly) {
  for (const Shape& s : fixed_shapes) {
    EXPECT_TRUE(Mlp<double>(parse_mlp_spec(s.widths, Activation::tanh, s.time)).fixed_size_kernel())
        << label(s);
    EXPECT_TRUE(Mlp<float>(parse_mlp_spec(s.widths, Activation::tanh, s.time)).fixed_size_kernel())
        << label(s);
  }
  EXPECT_FALSE(
      Mlp<double>(parse_mlp_spec("2,10,2", Activation::softplus, true)).fixed_size_kernel());
  EXPECT_FALSE(Mlp<double>(parse_mlp_spec("2,10,10,2")).fixed_size_kernel());
  EXPECT_FALSE(Mlp<double>(parse_mlp_spec("3,10,3")).fixed_size_kernel());
  EXPECT_FALSE(Mlp<double>(parse_mlp_spec("2,64,64,2")).fixed_size_kernel());
  Mlp<double> f(parse_mlp_spec("2,10,2", Activation::tanh, true));
  f.allow_fixed_size_kernel(false);
  EXPECT_FALSE(f.fixed_size_kernel());
  f.allow_fixed_size_kernel(true);
  EXPECT_TRUE(f.fixed_size_kernel());
}

// The same Mlp with the generic batch-1 path forced: the two differ only in summation order.
// θ is scaled so that some hidden units saturate and others sit near 0; several draws.
template <class T>
void expect_matches_generic(const Shape& s, double tolerance) {
  Mlp<T> fixed(parse_mlp_spec(s.widths, Activation::tanh, s.time));
  Mlp<T> generic(fixed.spec());
  generic.allow_fixed_size_kernel(false);
  ASSERT_TRUE(fixed.fixed_size_kernel());
  std::srand(3);
  for (int draw = 0; draw < 8; ++draw) {
    const Vector<T> theta =
        (fixed.init_params(Init::pytorch_default, 30 + draw) * T(1 + draw % 3)).eval();
    const Batch<T> y =
        (Batch<double>::Random(fixed.state_dim(), 1) * (1 + draw)).template cast<T>();
    const Batch<T> a = Batch<double>::Random(fixed.output_dim(), 1).template cast<T>();
    const Vector<T> prior = Vector<double>::Random(fixed.param_count()).template cast<T>();
    const T t = T(0.3 * draw - 1);
    const Result<T> got = run(fixed, t, y, theta, a, prior);
    const Result<T> want = run(generic, t, y, theta, a, prior);
    EXPECT_LE(relative_difference(got.dy, want.dy), tolerance) << label(s) << " draw " << draw;
    EXPECT_LE(relative_difference(got.y_bar, want.y_bar), tolerance)
        << label(s) << " draw " << draw;
    const Batch<T> bar = got.theta_bar - prior, want_bar = want.theta_bar - prior;
    EXPECT_LE(relative_difference(bar, want_bar), tolerance) << label(s) << " draw " << draw;
  }
}

TEST(SmallMlpTest, MatchesTheGenericBatch1Path) {
  for (const Shape& s : fixed_shapes) {
    expect_matches_generic<double>(s, 1e-14);
    expect_matches_generic<float>(s, 1e-5);
  }
}

// Against f and its VJP written out in Eigen with std::tanh (θ's layout from Mlp::layers):
// independent of both kernels' code.
TEST(SmallMlpTest, MatchesEigenReferenceMath) {
  for (const Shape& s : fixed_shapes) {
    const Mlp<double> f(parse_mlp_spec(s.widths, Activation::tanh, s.time));
    const LayerShape l1 = f.layers()[0], l2 = f.layers()[1];
    const Vector<double> theta = f.init_params(Init::glorot, 5) * 1.5;
    std::srand(9);
    const Batch<double> y = Batch<double>::Random(f.state_dim(), 1) * 2;
    const Batch<double> a = Batch<double>::Random(f.output_dim(), 1);
    const double t = 0.45;
    const Result<double> got = run(f, t, y, theta, a, Vector<double>::Zero(f.param_count()));

    Vector<double> x(l1.inputs);
    if (s.time)
      x << t, y.col(0);
    else
      x = y.col(0);
    const Eigen::Map<const Batch<double>> w1(theta.data() + l1.weight_offset, l1.outputs,
                                             l1.inputs);
    const Eigen::Map<const Batch<double>> w2(theta.data() + l2.weight_offset, l2.outputs,
                                             l2.inputs);
    const Vector<double> sigma =
        (w1 * x + theta.segment(l1.bias_offset, l1.outputs)).array().tanh().matrix();
    const Vector<double> dy = w2 * sigma + theta.segment(l2.bias_offset, l2.outputs);
    const Vector<double> g =
        ((w2.transpose() * a.col(0)).array() * (1 - sigma.array().square())).matrix();
    const Vector<double> x_bar = w1.transpose() * g;
    Vector<double> theta_bar = Vector<double>::Zero(f.param_count());
    Eigen::Map<Batch<double>>(theta_bar.data() + l1.weight_offset, l1.outputs, l1.inputs) =
        g * x.transpose();
    theta_bar.segment(l1.bias_offset, l1.outputs) = g;
    Eigen::Map<Batch<double>>(theta_bar.data() + l2.weight_offset, l2.outputs, l2.inputs) =
        a.col(0) * sigma.transpose();
    theta_bar.segment(l2.bias_offset, l2.outputs) = a.col(0);
    EXPECT_LE(relative_difference<double>(got.dy, dy), 1e-14) << label(s);
    EXPECT_LE(relative_difference<double>(got.y_bar, x_bar.tail(f.state_dim())), 1e-14) << label(s);
    EXPECT_LE(relative_difference<double>(got.theta_bar, theta_bar), 1e-14) << label(s);
  }
}

// L(y, θ) = a · f(t, y; θ); its gradient is what vjp returns.
double pairing(const Mlp<double>& f, double t, const Batch<double>& y, const Vector<double>& theta,
               const Batch<double>& a) {
  Batch<double> dy(f.output_dim(), 1);
  f.eval(t, y, theta, dy);
  return (a.array() * dy.array()).sum();
}

TEST(SmallMlpTest, VjpMatchesCentralDifferences) {
  for (const Shape& s : {Shape{"2,10,2", true}, Shape{"4,10,4", false}}) {
    const Mlp<double> f(parse_mlp_spec(s.widths, Activation::tanh, s.time));
    ASSERT_TRUE(f.fixed_size_kernel());
    const Vector<double> theta = f.init_params(Init::pytorch_default, 12) * 2.0;
    std::srand(4);
    const Batch<double> y = Batch<double>::Random(f.state_dim(), 1) * 1.5;
    const Batch<double> a = Batch<double>::Random(f.output_dim(), 1);
    const double t = 0.7, h = 1e-6;
    const Result<double> r = run(f, t, y, theta, a, Vector<double>::Zero(f.param_count()));
    Batch<double> fd_y(f.state_dim(), 1);
    for (Index i = 0; i < y.size(); ++i) {
      Batch<double> yp = y, ym = y;
      yp(i) += h;
      ym(i) -= h;
      fd_y(i) = (pairing(f, t, yp, theta, a) - pairing(f, t, ym, theta, a)) / (2 * h);
    }
    Batch<double> fd_theta(f.param_count(), 1);
    for (Index i = 0; i < theta.size(); ++i) {
      Vector<double> tp = theta, tm = theta;
      tp[i] += h;
      tm[i] -= h;
      fd_theta(i) = (pairing(f, t, y, tp, a) - pairing(f, t, y, tm, a)) / (2 * h);
    }
    EXPECT_LT(relative_difference<double>(r.y_bar, fd_y), 1e-7) << label(s);
    EXPECT_LT(relative_difference<double>(r.theta_bar, fd_theta), 1e-7) << label(s);
  }
}

// A NaN or an infinity in t, y, a or θ reaches the same outputs as on the generic path (same
// NaN, infinity and sign pattern), never silently dropped by the padded packet lanes.
TEST(SmallMlpTest, NanAndInfPropagateAsOnTheGenericPath) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  const auto same_pattern = [](const auto& got, const auto& want) {
    for (Index i = 0; i < got.size(); ++i) {
      const double g = got.data()[i], w = want.data()[i];
      if (std::isnan(g) != std::isnan(w) || std::isinf(g) != std::isinf(w) ||
          (std::isinf(g) && g != w))
        return false;
    }
    return true;
  };
  int cases = 0, not_finite = 0;
  for (const Shape& s : {Shape{"2,10,2", true}, Shape{"4,10,4", false}, Shape{"2,16,2", false}}) {
    Mlp<double> fixed(parse_mlp_spec(s.widths, Activation::tanh, s.time));
    Mlp<double> generic(fixed.spec());
    generic.allow_fixed_size_kernel(false);
    const Vector<double> theta0 = fixed.init_params(Init::pytorch_default, 3);
    std::srand(2);
    const Batch<double> y0 = Batch<double>::Random(fixed.state_dim(), 1);
    const Batch<double> a0 = Batch<double>::Random(fixed.output_dim(), 1);
    const Vector<double> prior = Vector<double>::Zero(fixed.param_count());
    // Each bad value in turn: y, a, t, then θ entries in W1, b1 (the last hidden unit, the
    // one a partial packet holds), W2 and b2.
    for (const double bad : {nan, inf, -inf}) {
      const Index last_hidden_bias = fixed.layers()[0].bias_offset + fixed.layers()[0].outputs - 1;
      const LayerShape& l1 = fixed.layers()[0];
      const std::vector<Index> theta_spots = {
          0, l1.weight_offset + l1.outputs * (l1.inputs - 1) + 1, last_hidden_bias,
          fixed.layers()[1].weight_offset + 1, fixed.param_count() - 1};
      for (int where = 0; where < 3 + int(theta_spots.size()); ++where) {
        Batch<double> y = y0, a = a0;
        Vector<double> theta = theta0;
        double t = 0.5;
        if (where == 0) y(1) = bad;
        if (where == 1) a(0) = bad;
        if (where == 2 && !s.time) continue;  // t is not an input
        if (where == 2) t = bad;
        if (where >= 3) theta[theta_spots[where - 3]] = bad;
        const Result<double> got = run(fixed, t, y, theta, a, prior);
        const Result<double> want = run(generic, t, y, theta, a, prior);
        SCOPED_TRACE(::testing::Message() << label(s) << " bad " << bad << " at " << where);
        EXPECT_TRUE(same_pattern(got.dy, want.dy)) << got.dy.transpose();
        EXPECT_TRUE(same_pattern(got.y_bar, want.y_bar)) << got.y_bar.transpose();
        EXPECT_TRUE(same_pattern(got.theta_bar, want.theta_bar)) << got.theta_bar.transpose();
        if (!(got.dy.allFinite() && got.y_bar.allFinite() && got.theta_bar.allFinite()))
          ++not_finite;
        ++cases;
      }
    }
  }
  EXPECT_GT(not_finite, cases * 3 / 4);  // most bad inputs do reach an output
}

// The forward tape through the fixed kernels: VJPs that take entries (reverse and step order)
// equal, bit for bit, VJPs that recompute (a fresh clone), and the entries are taken.
TEST(SmallMlpTest, ForwardTapeGivesBitIdenticalVjps) {
  for (const auto order : {Mlp<double>::TapeOrder::reverse, Mlp<double>::TapeOrder::step}) {
    const Mlp<double> f(parse_mlp_spec("2,10,2", Activation::tanh, true));
    ASSERT_TRUE(f.fixed_size_kernel());
    const auto fresh = f.clone();
    const Vector<double> theta = f.init_params(Init::pytorch_default, 6);
    std::srand(7);
    std::vector<Batch<double>> ys;
    for (int k = 0; k < 4; ++k) ys.push_back(Batch<double>::Random(2, 1) * 2);
    const Batch<double> a = Batch<double>::Random(2, 1);
    const auto vjp_with = [&](const VectorField<double>& g, double t, const Batch<double>& y) {
      Batch<double> y_bar(2, 1);
      Vector<double> theta_bar = Vector<double>::Constant(theta.size(), 0.125);
      g.vjp(t, y, theta, a, y_bar, theta_bar);
      return std::pair{y_bar, theta_bar};
    };
    Batch<double> dy(2, 1), dy_fresh(2, 1);
    f.record_forwards(1000, order);
    for (int k = 0; k < 4; ++k) {
      f.eval(0.1 * k, ys[k], theta, dy);
      fresh->eval(0.1 * k, ys[k], theta, dy_fresh);
      EXPECT_EQ(dy, dy_fresh);
    }
    EXPECT_EQ(f.recorded_floats(), 4 * (1 + 2 + 10));
    for (int k = 3; k >= 0; --k)
      EXPECT_EQ(vjp_with(f, 0.1 * k, ys[k]), vjp_with(*fresh, 0.1 * k, ys[k])) << "entry " << k;
    // Reverse order pops what it takes; step order keeps it for the caller to drop.
    EXPECT_EQ(f.recorded_floats(), order == Mlp<double>::TapeOrder::reverse ? 0 : 4 * 13);
    f.record_forwards(0);
  }
}

// ȳ may alias y (the header's promise): the fixed kernel reads y before writing ȳ.
TEST(SmallMlpTest, VjpInPlaceOverYMatchesSeparateBuffers) {
  const Mlp<double> f(parse_mlp_spec("4,10,4", Activation::tanh, true));
  const Vector<double> theta = f.init_params(Init::pytorch_default, 4);
  const Batch<double> y = Batch<double>::Random(4, 1), a = Batch<double>::Random(4, 1);
  Batch<double> y_bar(4, 1), in_place = y;
  Vector<double> theta_bar = Vector<double>::Zero(theta.size()), theta_bar_in_place = theta_bar;
  f.vjp(0.2, y, theta, a, y_bar, theta_bar);
  f.vjp(0.2, in_place, theta, a, in_place, theta_bar_in_place);
  EXPECT_EQ(in_place, y_bar);
  EXPECT_EQ(theta_bar_in_place, theta_bar);
}

// The column entry points (VectorField::eval_column / vjp_column, the steppers' batch-1 path)
// give eval's and vjp's numbers bit for bit, with the fixed kernels and without (a shape with
// none, and the generic path forced), also through a recorded forward tape; a wrong row count
// or θ size is the same clear error as eval's.
TEST(SmallMlpTest, ColumnEntryPointsGiveEvalAndVjpBitForBit) {
  for (const char* widths : {"2,10,2", "2,10,10,2"})
    for (const bool allow_fixed : {true, false}) {
      Mlp<double> f(parse_mlp_spec(widths, Activation::tanh, true));
      f.allow_fixed_size_kernel(allow_fixed);
      const auto label = std::string(widths) + (f.fixed_size_kernel() ? " fixed" : " generic");
      const Vector<double> theta = f.init_params(Init::pytorch_default, 8);
      std::srand(9);
      const Batch<double> y = Batch<double>::Random(2, 1) * 2, a = Batch<double>::Random(2, 1);
      Batch<double> dy(2, 1), dy_column(2, 1), y_bar(2, 1), y_bar_column(2, 1);
      Vector<double> bar = Vector<double>::Constant(theta.size(), 0.25), bar_column = bar;
      f.eval(0.3, y, theta, dy);
      f.vjp(0.3, y, theta, a, y_bar, bar);
      f.record_forwards(1000, Mlp<double>::TapeOrder::reverse);
      f.eval_column(0.3, y.data(), 2, theta, dy_column.data());
      EXPECT_GT(f.recorded_floats(), 0) << label;
      f.vjp_column(0.3, y.data(), 2, theta, a.data(), y_bar_column.data(), bar_column);
      EXPECT_EQ(f.recorded_floats(), 0) << label << ": the VJP took the entry";
      f.record_forwards(0);
      EXPECT_EQ(dy_column, dy) << label;
      EXPECT_EQ(y_bar_column, y_bar) << label;
      EXPECT_EQ(bar_column, bar) << label;
      double out[3];
      EXPECT_THROW(f.eval_column(0.3, y.data(), 3, theta, out), Error) << label;
      const Vector<double> short_theta = theta.head(theta.size() - 1);
      EXPECT_THROW(f.eval_column(0.3, y.data(), 2, short_theta, out), Error) << label;
      Vector<double> short_bar(3);
      EXPECT_THROW(f.vjp_column(0.3, y.data(), 2, theta, a.data(), out, short_bar), Error) << label;
    }
}

}  // namespace
}  // namespace revode
