// Activations and the Mlp vector field: derivatives and VJPs against central differences,
// the vectorised tanh against std::tanh, parameter layout, initialisers and spec errors.

// GCC 12 false positive inside its own avx512fintrin.h once Eigen's packet code is inlined
// (GCC PR 105593); see src/nn/activation.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "revode/nn/mlp.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "revode/core/error.hpp"

namespace revode {
namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

template <class F>
void expect_error(F&& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected revode::Error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

double max_relative_error(const Batch<double>& got, const Batch<double>& want) {
  return (got - want).cwiseAbs().maxCoeff() / std::max(want.cwiseAbs().maxCoeff(), 1e-300);
}

// ---- activations --------------------------------------------------------------------------

TEST(ActivationTest, NamesRoundTripAndUnknownNameListsValidOnes) {
  for (const Activation a : all_activations) EXPECT_EQ(parse_activation(activation_name(a)), a);
  expect_error([] { parse_activation("gelu"); }, "'gelu'");
  expect_error([] { parse_activation("Tanh"); },
               "tanh, softplus, relu, silu, sigmoid, elu, identity");
}

TEST(ActivationTest, DerivativeMatchesCentralDifferences) {
  // Points avoid |x| < 0.05 so relu's kink stays outside every difference stencil.
  Batch<double> x(1, 161);
  for (Index i = 0; i < x.cols(); ++i) x(0, i) = -8.0 + 0.1 * static_cast<double>(i) + 0.0503;
  for (const Activation act : all_activations) {
    Batch<double> value = x;
    Batch<double> derivative(x.rows(), x.cols());
    activate<double>(act, value, derivative);
    const double h = 1e-5;
    Batch<double> plus = x.array() + h;
    Batch<double> minus = x.array() - h;
    activate<double>(act, plus);
    activate<double>(act, minus);
    const Batch<double> fd = (plus - minus) / (2 * h);
    EXPECT_LT((fd - derivative).cwiseAbs().maxCoeff(), 1e-9) << activation_name(act);
    Batch<double> eval_only = x;
    activate<double>(act, eval_only);
    EXPECT_EQ(eval_only, value) << activation_name(act) << ": eval-only kernel differs";
  }
}

TEST(ActivationTest, LargeInputsStayFiniteAndNanPropagates) {
  Batch<double> x(1, 8);
  x << -1e300, -800, -40, -20, 20, 40, 800, 1e300;
  for (const Activation act : all_activations) {
    Batch<double> v = x;
    Batch<double> d(1, 8);
    activate<double>(act, v, d);
    EXPECT_TRUE(all_finite(v) && all_finite(d)) << activation_name(act) << ":\n" << v << "\n" << d;
  }
  Batch<double> t(1, 4);
  t << nan, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), 0;
  activate<double>(Activation::tanh, t);
  EXPECT_TRUE(std::isnan(t(0, 0)));
  EXPECT_EQ(t(0, 1), 1.0);
  EXPECT_EQ(t(0, 2), -1.0);
  EXPECT_EQ(t(0, 3), 0.0);
}

TEST(ActivationTest, DoubleTanhMatchesStdTanhOnMinus20To20) {
  // Measured: max abs error 2.2e-16 (3 ulp) on 4·10⁶ points; tanh_packet.hpp documents it,
  // tanh_kernel_test.cpp bounds it in ulps.
  const Index n = 400001;
  Batch<double> x(1, n);
  for (Index i = 0; i < n; ++i) x(0, i) = -20.0 + 40.0 * static_cast<double>(i) / (n - 1);
  Batch<double> t = x;
  Batch<double> d(1, n);
  activate<double>(Activation::tanh, t, d);
  const Batch<double> want = x.array().tanh();
  EXPECT_LT((t - want).cwiseAbs().maxCoeff(), 5e-16);
  EXPECT_LT((t - want).cwiseQuotient(want.cwiseAbs().cwiseMax(1e-300)).cwiseAbs().maxCoeff(),
            1e-15);
  EXPECT_LT((d.array() - (1 - want.array().square())).abs().maxCoeff(), 1e-15);
  Batch<float> tf = x.cast<float>();
  activate<float>(Activation::tanh, tf);
  EXPECT_LT((tf.cast<double>() - x.cast<float>().cast<double>().array().tanh().matrix())
                .cwiseAbs()
                .maxCoeff(),
            2.5e-7);
}

TEST(ActivationTest, StridedBlockMatchesContiguous) {
  Batch<double> big = Batch<double>::Random(13, 5) * 3;
  Batch<double> dense = big.topRows(7);
  Batch<double> dense_d(7, 5);
  Batch<double> big_d(13, 5);
  activate<double>(Activation::tanh, dense, dense_d);
  activate<double>(Activation::tanh, big.topRows(7), big_d.topRows(7));
  EXPECT_EQ(Batch<double>(big.topRows(7)), dense);
  EXPECT_EQ(Batch<double>(big_d.topRows(7)), dense_d);
}

// ---- spec, layout, initialisers -------------------------------------------------------------

TEST(MlpSpecTest, ParsesWidthsWithSpaces) {
  const MlpSpec spec = parse_mlp_spec(" 2, 64 ,64,2", Activation::silu, true);
  EXPECT_EQ(spec.widths, (std::vector<Index>{2, 64, 64, 2}));
  EXPECT_EQ(spec.activation, Activation::silu);
  EXPECT_TRUE(spec.time_input);
}

TEST(MlpSpecTest, MalformedSpecsNameTheProblem) {
  expect_error([] { parse_mlp_spec(""); }, "empty");
  expect_error([] { parse_mlp_spec("2,a,2"); }, "width 1 is 'a'");
  expect_error([] { parse_mlp_spec("2,,2"); }, "width 1 is ''");
  expect_error([] { parse_mlp_spec("2.5,4,2"); }, "'2.5'");
  expect_error([] { parse_mlp_spec("2,99999999999999999999999,2"); }, "positive integer");
  expect_error([] { parse_mlp_spec("2"); }, "at least 2 widths");
  expect_error([] { parse_mlp_spec("2,0,2"); }, "width 1 is 0");
  expect_error([] { parse_mlp_spec("-2,4,-2"); }, "width 0 is -2");
  expect_error([] { parse_mlp_spec("2,64,3"); }, "first width 2 differs from last width 3");
  expect_error([] { parse_mlp_spec("2,99999999999,2"); }, "width 1 is 99999999999, above the limit");
  expect_error([] { parse_mlp_spec("2,1000000,1000000,2"); }, "parameters, above the limit");
  expect_error([] { Mlp<double>(MlpSpec{{3, 4}}); }, "first width 3");
}

TEST(MlpTest, ParamCountFollowsLayoutFormula) {
  for (const bool time : {false, true}) {
    for (const auto& widths : {std::vector<Index>{2, 64, 64, 2}, {4, 10, 4}, {3, 3}, {2, 10, 2}}) {
      const Mlp<double> f(MlpSpec{widths, Activation::tanh, time});
      Index expected = 0;
      for (std::size_t l = 0; l + 1 < widths.size(); ++l)
        expected += (widths[l] + (l == 0 && time ? 1 : 0) + 1) * widths[l + 1];
      EXPECT_EQ(f.param_count(), expected);
      EXPECT_EQ(f.layers().back().bias_offset + widths.back(), expected);
    }
  }
  EXPECT_EQ(Mlp<double>(parse_mlp_spec("2,64,64,2")).param_count(), 4482);
  EXPECT_EQ(Mlp<double>(parse_mlp_spec("2,10,2", Activation::tanh, true)).param_count(), 62);
  EXPECT_EQ(Mlp<double>(parse_mlp_spec("2,64,64,2")).intermediate_floats(3), 2 * 128 * 3);
  EXPECT_EQ(Mlp<float>(parse_mlp_spec("2,64,64,2")).name(), "mlp:2,64,64,2 tanh");
  EXPECT_EQ(Mlp<float>(parse_mlp_spec("2,10,2", Activation::elu, true)).name(),
            "mlp:2,10,2 elu time-input");
}

TEST(MlpInitTest, BoundsMatchPytorchAndGlorot) {
  const Mlp<double> f(parse_mlp_spec("3,64,32,3", Activation::tanh, true));
  const Vector<double> torch = f.init_params(Init::pytorch_default, 7);
  const Vector<double> glorot = f.init_params(Init::glorot, 7);
  for (const LayerShape& s : f.layers()) {
    const double in = static_cast<double>(s.inputs);
    const double out = static_cast<double>(s.outputs);
    const auto w_torch = torch.segment(s.weight_offset, s.inputs * s.outputs);
    const auto b_torch = torch.segment(s.bias_offset, s.outputs);
    const auto w_glorot = glorot.segment(s.weight_offset, s.inputs * s.outputs);
    EXPECT_LE(w_torch.cwiseAbs().maxCoeff(), 1 / std::sqrt(in));
    EXPECT_GT(w_torch.cwiseAbs().maxCoeff(), 0.9 / std::sqrt(in));  // fills its range
    EXPECT_LE(b_torch.cwiseAbs().maxCoeff(), 1 / std::sqrt(in));
    EXPECT_LE(w_glorot.cwiseAbs().maxCoeff(), std::sqrt(6 / (in + out)));
    EXPECT_GT(w_glorot.cwiseAbs().maxCoeff(), 0.9 * std::sqrt(6 / (in + out)));
    EXPECT_TRUE(glorot.segment(s.bias_offset, s.outputs).isZero(0));
    EXPECT_NEAR(w_torch.mean(), 0.0, 3 / std::sqrt(in * static_cast<double>(w_torch.size())));
  }
}

TEST(MlpInitTest, DeterministicInSeedAndSameAcrossScalarTypes) {
  const MlpSpec spec = parse_mlp_spec("2,16,2");
  const Mlp<double> f(spec);
  EXPECT_EQ(f.init_params(Init::pytorch_default, 1), f.init_params(Init::pytorch_default, 1));
  EXPECT_NE(f.init_params(Init::pytorch_default, 1), f.init_params(Init::pytorch_default, 2));
  EXPECT_NE(f.init_params(Init::glorot, 1), f.init_params(Init::glorot, 2));
  const Vector<float> single = Mlp<float>(spec).init_params(Init::glorot, 3);
  EXPECT_EQ(single, f.init_params(Init::glorot, 3).cast<float>());
  // Pinned: mt19937_64's stream is standardised and the uniform mapping is our own, so these
  // values must not change between platforms or standard libraries.
  const Vector<double> theta = f.init_params(Init::pytorch_default, 42);
  EXPECT_EQ(theta[0], 0.36084441521884419);
  EXPECT_EQ(theta[f.param_count() - 1], -0.10026919798945705);
}

// ---- eval and VJP ---------------------------------------------------------------------------

using VjpCase = std::tuple<Activation, bool, Index>;  // activation, time input, batch
class MlpVjpTest : public ::testing::TestWithParam<VjpCase> {};

// L(y, θ) = Σ a ⊙ f(t, y; θ); its gradient is exactly what vjp returns.
double pairing(const Mlp<double>& f, double t, const Batch<double>& y, const Vector<double>& theta,
               const Batch<double>& a) {
  Batch<double> dy(y.rows(), y.cols());
  f.eval(t, y, theta, dy);
  return (a.array() * dy.array()).sum();
}

TEST_P(MlpVjpTest, MatchesCentralDifferences) {
  const auto [act, time, batch] = GetParam();
  const Mlp<double> f(MlpSpec{{3, 8, 5, 3}, act, time});
  const Vector<double> theta = f.init_params(Init::pytorch_default, 11) * 2.0;
  std::srand(5);
  const Batch<double> y = Batch<double>::Random(3, batch) * 1.5;
  const Batch<double> a = Batch<double>::Random(3, batch);
  const double t = 0.7;
  Batch<double> y_bar = Batch<double>::Constant(3, batch, nan);
  const Vector<double> prior = Vector<double>::Constant(f.param_count(), 0.25);
  Vector<double> theta_bar = prior;
  f.vjp(t, y, theta, a, y_bar, theta_bar);
  theta_bar -= prior;  // vjp accumulates

  const double h = 1e-6;
  Batch<double> fd_y(3, batch);
  for (Index i = 0; i < y.size(); ++i) {
    Batch<double> yp = y, ym = y;
    yp(i) += h;
    ym(i) -= h;
    fd_y(i) = (pairing(f, t, yp, theta, a) - pairing(f, t, ym, theta, a)) / (2 * h);
  }
  Vector<double> fd_theta(f.param_count());
  for (Index i = 0; i < theta.size(); ++i) {
    Vector<double> tp = theta, tm = theta;
    tp[i] += h;
    tm[i] -= h;
    fd_theta[i] = (pairing(f, t, y, tp, a) - pairing(f, t, y, tm, a)) / (2 * h);
  }
  EXPECT_LT(max_relative_error(y_bar, fd_y), 1e-7) << "y_bar\n" << y_bar << "\nfd\n" << fd_y;
  EXPECT_LT(max_relative_error(theta_bar, fd_theta), 1e-7);
}

INSTANTIATE_TEST_SUITE_P(EveryActivation, MlpVjpTest,
                         ::testing::Combine(::testing::ValuesIn(all_activations), ::testing::Bool(),
                                            ::testing::Values(Index{1}, Index{7})),
                         [](const ::testing::TestParamInfo<VjpCase>& param_info) {
                           return std::string(activation_name(std::get<0>(param_info.param))) +
                                  (std::get<1>(param_info.param) ? "_time" : "") + "_batch" +
                                  std::to_string(std::get<2>(param_info.param));
                         });

TEST(MlpTest, BatchColumnsAreIndependentAndCloneAgrees) {
  const Mlp<double> f(parse_mlp_spec("2,16,16,2", Activation::tanh, true));
  const Vector<double> theta = f.init_params(Init::glorot, 4);
  const Batch<double> y = Batch<double>::Random(2, 9);
  Batch<double> dy(2, 9);
  f.eval(0.3, y, theta, dy);
  const auto copy = f.clone();
  for (Index j = 0; j < 9; ++j) {
    Batch<double> one(2, 1);
    copy->eval(0.3, y.col(j), theta, one);
    EXPECT_LT((one - dy.col(j)).cwiseAbs().maxCoeff(), 1e-15) << "column " << j;
  }
  Batch<double> wrong(3, 9);
  expect_error([&] { f.eval(0.3, y, theta, wrong); }, "expected both 2×batch");
  expect_error([&] { f.eval(0.3, y, theta.head(5), dy); }, "theta has 5 entries");
}

TEST(MlpTest, WideBatchesRunInSlabsWithTheSameResult) {
  const Mlp<double> f(parse_mlp_spec("3,16,3", Activation::silu, true));
  const Vector<double> theta = f.init_params(Init::pytorch_default, 8);
  const Batch<double> y = Batch<double>::Random(3, 600);
  const Batch<double> a = Batch<double>::Random(3, 600);
  Batch<double> dy(3, 600), y_bar(3, 600), dy_part(3, 100), y_bar_part(3, 100);
  Vector<double> theta_bar = Vector<double>::Zero(theta.size());
  Vector<double> theta_bar_parts = theta_bar;
  f.eval(0.2, y, theta, dy);
  f.vjp(0.2, y, theta, a, y_bar, theta_bar);
  for (Index c = 0; c < 600; c += 100) {
    f.eval(0.2, y.middleCols(c, 100), theta, dy_part);
    f.vjp(0.2, y.middleCols(c, 100), theta, a.middleCols(c, 100), y_bar_part, theta_bar_parts);
    EXPECT_LT((dy.middleCols(c, 100) - dy_part).cwiseAbs().maxCoeff(), 1e-14);
    EXPECT_LT((y_bar.middleCols(c, 100) - y_bar_part).cwiseAbs().maxCoeff(), 1e-14);
  }
  EXPECT_LT(max_relative_error(theta_bar, theta_bar_parts), 1e-13);
  EXPECT_EQ(f.intermediate_floats(1000), 2 * 16 * 256);
}

// Batch 1 runs the hand-written kernels (src/nn/dense_kernels.hpp), wider batches Eigen's
// GEMM, so each column of a wide call is an independent check of the batch-1 result. The
// widths exercise every kernel branch: whole 8-packet row blocks and a partial block (70,
// 137), leftover scalar rows (70 % 8, 13, 9), thin output layers, and column counts that
// are and are not multiples of the four-column blocking, with and without the time column.
template <class T>
void expect_batch1_matches_wide(const char* widths, bool time_input, double tolerance) {
  const Mlp<T> f(parse_mlp_spec(widths, Activation::tanh, time_input));
  const Vector<T> theta = f.init_params(Init::pytorch_default, 21);
  const Index dim = f.state_dim(), batch = 3;
  std::srand(8);
  const Batch<T> y = Batch<double>::Random(dim, batch).cast<T>();
  const Batch<T> a = Batch<double>::Random(dim, batch).cast<T>();
  Batch<T> dy(dim, batch), y_bar(dim, batch);
  Vector<T> theta_bar = Vector<T>::Zero(theta.size());
  f.eval(T(0.4), y, theta, dy);
  f.vjp(T(0.4), y, theta, a, y_bar, theta_bar);
  Vector<T> theta_bar_columns = Vector<T>::Zero(theta.size());
  for (Index j = 0; j < batch; ++j) {
    Batch<T> one(dim, 1), one_bar(dim, 1);
    f.eval(T(0.4), y.col(j), theta, one);
    f.vjp(T(0.4), y.col(j), theta, a.col(j), one_bar, theta_bar_columns);
    EXPECT_LT(max_relative_error(one.template cast<double>(), dy.col(j).template cast<double>()),
              tolerance)
        << widths << " column " << j;
    EXPECT_LT(max_relative_error(one_bar.template cast<double>(),
                                 y_bar.col(j).template cast<double>()),
              tolerance)
        << widths << " column " << j;
  }
  EXPECT_LT(max_relative_error(theta_bar_columns.template cast<double>(),
                               theta_bar.template cast<double>()),
            tolerance)
      << widths;
}

// The header allows y_bar to alias y: both paths read all of y before writing ȳ.
TEST(MlpTest, VjpInPlaceOverYMatchesSeparateBuffers) {
  for (const Index batch : {1, 5}) {
    const Mlp<double> f(parse_mlp_spec("3,70,13,3", Activation::tanh, true));
    const Vector<double> theta = f.init_params(Init::pytorch_default, 4);
    const Batch<double> y = Batch<double>::Random(3, batch), a = Batch<double>::Random(3, batch);
    Batch<double> y_bar(3, batch), in_place = y;
    Vector<double> theta_bar = Vector<double>::Zero(theta.size()), theta_bar_in_place = theta_bar;
    f.vjp(0.2, y, theta, a, y_bar, theta_bar);
    f.vjp(0.2, in_place, theta, a, in_place, theta_bar_in_place);
    EXPECT_EQ(in_place, y_bar) << "batch " << batch;
    EXPECT_EQ(theta_bar_in_place, theta_bar) << "batch " << batch;
  }
}

TEST(MlpTest, Batch1KernelsAgreeWithTheBatchedPath) {
  for (const bool time : {false, true})
    for (const char* widths : {"3,70,13,3", "5,137,9,5", "2,64,64,2", "1,1", "9,17,9"}) {
      expect_batch1_matches_wide<double>(widths, time, 1e-13);
      expect_batch1_matches_wide<float>(widths, time, 1e-5);
    }
}

TEST(MlpTest, Float32SmokeAgreesWithFloat64) {
  const MlpSpec spec = parse_mlp_spec("2,64,64,2");
  const Mlp<double> fd(spec);
  const Mlp<float> ff(spec);
  const Vector<double> theta = fd.init_params(Init::pytorch_default, 9);
  const Batch<double> y = Batch<double>::Random(2, 5);
  const Batch<double> a = Batch<double>::Random(2, 5);
  Batch<double> dy(2, 5), y_bar(2, 5);
  Batch<float> dyf(2, 5), y_barf(2, 5);
  Vector<double> theta_bar = Vector<double>::Zero(theta.size());
  Vector<float> theta_barf = Vector<float>::Zero(theta.size());
  fd.eval(0, y, theta, dy);
  fd.vjp(0, y, theta, a, y_bar, theta_bar);
  ff.eval(0, y.cast<float>(), theta.cast<float>(), dyf);
  ff.vjp(0, y.cast<float>(), theta.cast<float>(), a.cast<float>(), y_barf, theta_barf);
  EXPECT_LT(max_relative_error(dyf.cast<double>(), dy), 1e-5);
  EXPECT_LT(max_relative_error(y_barf.cast<double>(), y_bar), 1e-5);
  EXPECT_LT(max_relative_error(theta_barf.cast<double>(), theta_bar), 1e-5);
}

// The forward-tape tests' cases: tanh (σ' rebuilt from σ) and softplus (σ' kept), batch 1
// and 4, on the time-input MLP 3→10→7→3.
std::vector<std::pair<Activation, Index>> forward_tape_cases() {
  return {{Activation::tanh, 1}, {Activation::tanh, 4}, {Activation::softplus, 1},
          {Activation::softplus, 4}};
}

// Scalars of one tape entry there: t, y, and σ (and σ' unless tanh) of the 10 + 7 units.
Index tape_entry_floats(Activation activation, Index batch) {
  return 1 + (3 + (activation == Activation::tanh ? 1 : 2) * 17) * batch;
}

// The forward tape (record_forwards): VJPs taken in the reverse order of the evaluations take
// the kept σ, σ' and must equal, bit for bit, VJPs that recompute (a fresh clone); a VJP at
// another point (one bit of y or t) recomputes and leaves the entry, one after θ changed in
// place since the evaluations recomputes, one at an entry below a stray drops the stray; the
// budget bounds what is kept, earliest first; record_forwards(0) stops keeping.
TEST(MlpTest, ForwardTapeGivesBitIdenticalVjpsLastInFirstOut) {
  for (const auto& [act, columns] : forward_tape_cases()) {
    const Activation activation = act;
    const Index batch = columns;  // a plain variable, so the lambdas below may capture it
    SCOPED_TRACE(::testing::Message() << activation_name(activation) << " batch " << batch);
    const Mlp<double> f(parse_mlp_spec("3,10,7,3", activation, true));
    Vector<double> theta = f.init_params(Init::pytorch_default, 2);
    const Index entry = tape_entry_floats(activation, batch);
    const Batch<double> a = Batch<double>::Random(3, batch);
    std::vector<Batch<double>> ys;
    for (int k = 0; k < 4; ++k) ys.push_back(Batch<double>::Random(3, batch));
    const auto vjp_with = [&](const VectorField<double>& g, double t, const Batch<double>& y) {
      Batch<double> y_bar(3, batch);
      Vector<double> theta_bar = Vector<double>::Zero(theta.size());
      g.vjp(t, y, theta, a, y_bar, theta_bar);
      return std::pair{y_bar, theta_bar};
    };
    const auto fresh = f.clone();
    Batch<double> dy(3, batch);
    f.record_forwards(3 * entry);  // room for three of the four
    for (int k = 0; k < 4; ++k) f.eval(0.1 * k, ys[k], theta, dy);
    f.record_forwards(0);
    f.eval(0.9, ys[0], theta, dy);  // not kept
    EXPECT_EQ(f.recorded_floats(), 3 * entry);
    EXPECT_EQ(vjp_with(f, 0.3, ys[3]), vjp_with(*fresh, 0.3, ys[3]));  // never kept
    Batch<double> nudged = ys[2];
    nudged(2, batch - 1) = std::nextafter(nudged(2, batch - 1), 2.0);
    EXPECT_EQ(vjp_with(f, 0.2, nudged), vjp_with(*fresh, 0.2, nudged));
    EXPECT_EQ(vjp_with(f, std::nextafter(0.2, 1.0), ys[2]),
              vjp_with(*fresh, std::nextafter(0.2, 1.0), ys[2]));
    EXPECT_EQ(f.recorded_floats(), 3 * entry);
    for (int k = 2; k >= 1; --k)
      EXPECT_EQ(vjp_with(f, 0.1 * k, ys[k]), vjp_with(*fresh, 0.1 * k, ys[k]));
    EXPECT_EQ(f.recorded_floats(), entry);
    EXPECT_EQ(vjp_with(f, 0.0, ys[0]), vjp_with(*fresh, 0.0, ys[0]));
    EXPECT_EQ(f.recorded_floats(), 0);
    // An evaluation whose VJP never comes does not block the entry below it; it is dropped.
    f.record_forwards(3 * entry);
    f.eval(0.0, ys[0], theta, dy);
    f.eval(0.1, ys[1], theta, dy);
    f.record_forwards(0);
    EXPECT_EQ(vjp_with(f, 0.0, ys[0]), vjp_with(*fresh, 0.0, ys[0]));
    EXPECT_EQ(f.recorded_floats(), 0);
    // θ changed in place after the evaluations: the entries were computed with the old θ.
    f.record_forwards(3 * entry);
    f.eval(0.0, ys[0], theta, dy);
    f.record_forwards(0);
    theta[15] += 0.25;  // W_1[5, 1], a weight of y (column 0 multiplies t = 0)
    const auto changed = vjp_with(f, 0.0, ys[0]);
    EXPECT_EQ(changed, vjp_with(*fresh, 0.0, ys[0]));
    theta[15] -= 0.25;
    EXPECT_FALSE(changed == vjp_with(*fresh, 0.0, ys[0]));
    f.drop_forwards();
    EXPECT_EQ(f.recorded_floats(), 0);
  }
}

// The forward tape in step order (reversible backprop's): VJPs in any order take the kept
// entries and equal, bit for bit, VJPs that recompute (a fresh clone); entries stay until
// drop_forwards (a point may be pulled back twice); a point not kept (one bit of y off)
// recomputes; the budget bounds what is kept; θ is compared by address, so a VJP with θ at
// another address recomputes, while a θ changed in place takes the old entry (which shows the
// entries are taken: that misuse is what the documentation forbids); a wide batch keeps its
// forward cache and nothing on the tape.
TEST(MlpTest, ForwardTapeInStepOrderGivesBitIdenticalVjpsInAnyOrder) {
  for (const auto& [act, columns] : forward_tape_cases()) {
    const Activation activation = act;
    const Index batch = columns;
    SCOPED_TRACE(::testing::Message() << activation_name(activation) << " batch " << batch);
    const Mlp<double> f(parse_mlp_spec("3,10,7,3", activation, true));
    Vector<double> theta = f.init_params(Init::pytorch_default, 2);
    const Index entry = tape_entry_floats(activation, batch);
    const Batch<double> a = Batch<double>::Random(3, batch);
    std::vector<Batch<double>> ys;
    for (int k = 0; k < 5; ++k) ys.push_back(Batch<double>::Random(3, batch));
    const auto vjp_with = [&](const VectorField<double>& g, double t, const Batch<double>& y,
                              const Vector<double>& th) {
      Batch<double> y_bar(3, batch);
      Vector<double> theta_bar = Vector<double>::Zero(th.size());
      g.vjp(t, y, th, a, y_bar, theta_bar);
      return std::pair{y_bar, theta_bar};
    };
    const auto fresh = f.clone();
    Batch<double> dy(3, batch), dy_fresh(3, batch);
    f.record_forwards(4 * entry, Mlp<double>::TapeOrder::step);  // room for four of the five
    for (int k = 0; k < 5; ++k) {
      f.eval(0.1 * k, ys[k], theta, dy);
      fresh->eval(0.1 * k, ys[k], theta, dy_fresh);
      EXPECT_EQ(dy, dy_fresh);
    }
    EXPECT_EQ(f.recorded_floats(), 4 * entry);
    for (const int k : {1, 0, 3, 2, 1, 4})  // 4 was not kept
      EXPECT_EQ(vjp_with(f, 0.1 * k, ys[k], theta), vjp_with(*fresh, 0.1 * k, ys[k], theta)) << k;
    Batch<double> nudged = ys[2];
    nudged(1, batch - 1) = std::nextafter(nudged(1, batch - 1), 2.0);
    EXPECT_EQ(vjp_with(f, 0.1 * 2, nudged, theta), vjp_with(*fresh, 0.1 * 2, nudged, theta));
    EXPECT_EQ(f.recorded_floats(), 4 * entry);  // entries stay until dropped
    const Vector<double> copy = theta;           // the same values at another address
    EXPECT_EQ(vjp_with(f, 0.1 * 3, ys[3], copy), vjp_with(*fresh, 0.1 * 3, ys[3], copy));
    theta[15] += 0.25;  // in place: the kept entry (computed with the old θ) is taken
    EXPECT_FALSE(vjp_with(f, 0.1 * 3, ys[3], theta) == vjp_with(*fresh, 0.1 * 3, ys[3], theta));
    theta[15] -= 0.25;
    f.drop_forwards();
    EXPECT_EQ(f.recorded_floats(), 0);
    f.eval(0.0, ys[0], theta, dy);  // still recording after a drop
    EXPECT_EQ(f.recorded_floats(), entry);
    f.record_forwards(0);
    f.drop_forwards();
    f.eval(0.0, ys[0], theta, dy);
    EXPECT_EQ(f.recorded_floats(), 0);
  }
  // A wide batch: nothing on the tape, the forward cache serves the VJP.
  const Mlp<double> g(parse_mlp_spec("3,10,7,3", Activation::tanh, true));
  const Vector<double> theta = g.init_params(Init::pytorch_default, 2);
  const Index wide = Mlp<double>::kForwardCacheMinBatch;
  const Batch<double> y = Batch<double>::Random(3, wide), a = Batch<double>::Random(3, wide);
  Batch<double> dy(3, wide), y_bar(3, wide), y_bar_fresh(3, wide);
  Vector<double> theta_bar = Vector<double>::Zero(theta.size()), theta_bar_fresh = theta_bar;
  g.record_forwards(1 << 20, Mlp<double>::TapeOrder::step);
  g.eval(0.5, y, theta, dy);
  EXPECT_EQ(g.recorded_floats(), 0);
  g.vjp(0.5, y, theta, a, y_bar, theta_bar);
  g.clone()->vjp(0.5, y, theta, a, y_bar_fresh, theta_bar_fresh);
  EXPECT_EQ(y_bar, y_bar_fresh);
  EXPECT_EQ(theta_bar, theta_bar_fresh);
  g.record_forwards(0);
}

// The forward tape at wide batches (kForwardCacheMinBatch columns and more, reverse order):
// an entry keeps t, y and the σ (σ' too unless tanh) of the layers with at least
// kWideTapeMinInputs inputs only; the eval's dy and every VJP taken in reverse order must equal,
// bit for bit, a fresh clone's (which recomputes), including a batch wider than one slab; the
// budget bounds what is kept, earliest first; a θ changed in place drops the entries.
// `kept_units`: the hidden units the tape keeps per column.
template <class T>
void check_wide_forward_tape(const MlpSpec& spec, Index kept_units) {
  const Mlp<T> f(spec);
  Vector<T> theta = f.init_params(Init::pytorch_default, 4);
  const Index dim = f.state_dim();
  const Index per_unit = spec.activation == Activation::tanh ? 1 : 2;
  for (const Index batch : {Index{32}, Index{64}, Index{256}, Index{300}}) {
    SCOPED_TRACE(::testing::Message() << f.name() << " batch " << batch);
    const Index entry = f.tape_entry_floats(batch);
    EXPECT_EQ(entry, 1 + (dim + per_unit * kept_units) * batch);
    const Batch<T> a = Batch<T>::Random(dim, batch);
    std::vector<Batch<T>> ys;
    for (int k = 0; k < 4; ++k) ys.push_back(Batch<T>::Random(dim, batch));
    const auto vjp_with = [&](const VectorField<T>& g, T t, const Batch<T>& y) {
      Batch<T> y_bar(dim, batch);
      Vector<T> theta_bar = Vector<T>::Zero(theta.size());
      g.vjp(t, y, theta, a, y_bar, theta_bar);
      return std::pair{y_bar, theta_bar};
    };
    const auto fresh = f.clone();
    Batch<T> dy(dim, batch), dy_fresh(dim, batch);
    f.record_forwards(3 * entry);  // room for three of the four
    for (int k = 0; k < 4; ++k) {
      f.eval(T(0.1) * T(k), ys[k], theta, dy);
      fresh->eval(T(0.1) * T(k), ys[k], theta, dy_fresh);
      EXPECT_EQ(dy, dy_fresh) << k;
    }
    f.record_forwards(0);
    EXPECT_EQ(f.recorded_floats(), 3 * entry);
    for (int k = 3; k >= 0; --k)  // 3 was not kept
      EXPECT_EQ(vjp_with(f, T(0.1) * T(k), ys[k]), vjp_with(*fresh, T(0.1) * T(k), ys[k])) << k;
    EXPECT_EQ(f.recorded_floats(), 0);
    // θ changed in place after the evaluations: the entries were computed with the old θ.
    f.record_forwards(3 * entry);
    f.eval(T(0), ys[0], theta, dy);
    f.record_forwards(0);
    const Index w = f.layers()[1].weight_offset + 1;  // a weight of a kept layer
    theta[w] += T(0.25);
    const auto changed = vjp_with(f, T(0), ys[0]);
    EXPECT_EQ(changed, vjp_with(*fresh, T(0), ys[0]));
    EXPECT_EQ(f.recorded_floats(), 0);
    theta[w] -= T(0.25);
    EXPECT_FALSE(changed == vjp_with(*fresh, T(0), ys[0]));
  }
}

TEST(MlpTest, ForwardTapeAtWideBatchesKeepsTheLayersFedByAWideGemm) {
  // 2→64→64→2: the second hidden layer (64 inputs) only; the first (2 inputs) is recomputed.
  check_wide_forward_tape<double>(parse_mlp_spec("2,64,64,2"), 64);
  check_wide_forward_tape<float>(parse_mlp_spec("2,64,64,2"), 64);
  // softplus keeps σ' as well; a kept layer (20 inputs) feeding one that is not (2 inputs).
  check_wide_forward_tape<double>(parse_mlp_spec("16,20,2,8,16", Activation::softplus), 20 + 2);
  check_wide_forward_tape<float>(parse_mlp_spec("3,24,18,3", Activation::tanh, true), 18);
}

// Wide batches keep the last evaluations' hidden layers (Mlp::kForwardCacheMinBatch): a VJP at
// a point just evaluated must equal, bit for bit, one that recomputes the forward (a fresh
// clone has nothing cached), and a θ changed in place, or a y differing in one bit, must miss.
// A layer of 1024 double units makes slabs of 16 columns: a narrow batch of 20 is wider than
// the scratch, so the tape must not keep it (it used to be computed past the scratch), and
// eval and VJP still give the unrecorded results.
TEST(MlpTest, ForwardTapeSkipsNarrowBatchesWiderThanASlab) {
  const Mlp<double> f(parse_mlp_spec("2,1024,2"));
  const auto fresh = f.clone();
  const Vector<double> theta = f.init_params(Init::pytorch_default, 4);
  const Batch<double> y = Batch<double>::Random(2, 20), a = Batch<double>::Random(2, 20);
  Batch<double> dy(2, 20), dy_want(2, 20), y_bar(2, 20), y_bar_want(2, 20);
  Vector<double> theta_bar = Vector<double>::Zero(theta.size()), theta_bar_want = theta_bar;
  f.record_forwards(Index{1} << 20);
  f.eval(0.5, y, theta, dy);
  EXPECT_EQ(f.recorded_floats(), 0);
  f.vjp(0.5, y, theta, a, y_bar, theta_bar);
  f.record_forwards(0);
  fresh->eval(0.5, y, theta, dy_want);
  fresh->vjp(0.5, y, theta, a, y_bar_want, theta_bar_want);
  EXPECT_EQ(dy, dy_want);
  EXPECT_EQ(y_bar, y_bar_want);
  EXPECT_EQ(theta_bar, theta_bar_want);
}

TEST(MlpTest, ForwardCacheGivesBitIdenticalVjpsAndMissesOnAnyChange) {
  const Mlp<double> f(parse_mlp_spec("3,24,16,3", Activation::tanh, true));
  Vector<double> theta = f.init_params(Init::pytorch_default, 6);
  const Index batch = Mlp<double>::kForwardCacheMinBatch + 5;
  Batch<double> y = Batch<double>::Random(3, batch);
  const Batch<double> a = Batch<double>::Random(3, batch);
  const auto vjp_fresh = [&](double t, const Batch<double>& at) {
    const auto fresh = f.clone();
    Batch<double> y_bar(3, batch);
    Vector<double> theta_bar = Vector<double>::Zero(theta.size());
    fresh->vjp(t, at, theta, a, y_bar, theta_bar);
    return std::pair{y_bar, theta_bar};
  };
  const auto vjp_after_eval = [&](double t, const Batch<double>& at, bool change_theta) {
    Batch<double> dy(3, batch), y_bar(3, batch);
    Vector<double> theta_bar = Vector<double>::Zero(theta.size());
    f.eval(0.7, y, theta, dy);  // a different point first: the lookup must pick the right one
    f.eval(t, at, theta, dy);
    if (change_theta) theta[4] += 0.25;
    f.vjp(t, at, theta, a, y_bar, theta_bar);
    return std::pair{y_bar, theta_bar};
  };
  const auto hit = vjp_after_eval(0.3, y, false);
  EXPECT_EQ(hit, vjp_fresh(0.3, y));
  const auto after_change = vjp_after_eval(0.3, y, true);  // θ changes between eval and vjp
  EXPECT_EQ(after_change, vjp_fresh(0.3, y));
  EXPECT_FALSE(after_change == hit);
  Batch<double> nudged = y;
  nudged(1, batch - 1) = std::nextafter(nudged(1, batch - 1), 2.0);
  Batch<double> dy(3, batch), y_bar(3, batch);
  Vector<double> theta_bar = Vector<double>::Zero(theta.size());
  f.eval(0.3, y, theta, dy);
  f.vjp(0.3, nudged, theta, a, y_bar, theta_bar);
  EXPECT_EQ(std::pair(y_bar, theta_bar), vjp_fresh(0.3, nudged));
  f.eval(0.3, y, theta, dy);
  theta_bar.setZero();
  f.vjp(std::nextafter(0.3, 1.0), y, theta, a, y_bar, theta_bar);
  EXPECT_EQ(std::pair(y_bar, theta_bar), vjp_fresh(std::nextafter(0.3, 1.0), y));
  // The cache is memory: intermediate_floats counts it where it is kept.
  const Index units = 24 + 16, slab = 256;
  EXPECT_EQ(f.intermediate_floats(batch), 5 * 2 * units * slab + 4 * 3 * slab + f.param_count());
  EXPECT_EQ(f.intermediate_floats(3), 2 * units * 3);
}

// Deferred weight gradients (Mlp::defer_weight_gradients): a run of VJPs into one θ̄ gives
// bit for bit the θ̄ and ȳ of the immediate path, for every count of kept terms at the flush
// (1 … 9 VJPs: 0 … 3 left in the buffer), with a wider VJP into the same θ̄ in the middle
// (it flushes first), VJPs into another θ̄ (immediate), ȳ over y in place, and layers past
// the last whole packet; the scope flushes at its end and drops on an exception.
template <class T>
void expect_deferred_matches_immediate(const char* widths, Activation act, bool time) {
  const Mlp<T> immediate(parse_mlp_spec(widths, act, time));
  const Mlp<T> deferring(parse_mlp_spec(widths, act, time));
  const Index dim = immediate.state_dim();
  const Vector<T> theta = immediate.init_params(Init::pytorch_default, 8);
  for (const int count : {1, 3, 4, 5, 8, 9}) {
    for (const bool wide_in_middle : {false, true}) {
      Vector<T> want = Vector<T>::Zero(theta.size()), got = want;
      Vector<T> other = Vector<T>::Zero(theta.size()), other_want = other;
      const Index wide = wide_in_middle ? 3 : 0;
      deferring.defer_weight_gradients(got.data());
      for (int k = 0; k < count; ++k) {
        const Index batch = k == count / 2 && wide > 0 ? wide : 1;
        const Batch<T> y = Batch<T>::Random(dim, batch);
        const Batch<T> a = Batch<T>::Random(dim, batch);
        const T t = T(0.1) * T(k);
        Batch<T> y_bar_want(dim, batch), y_bar_got = y;  // ȳ over y in place
        immediate.vjp(t, y, theta, a, y_bar_want, want);
        deferring.vjp(t, y_bar_got, theta, a, y_bar_got, got);
        EXPECT_EQ(y_bar_got, y_bar_want) << widths << " " << count << " " << k;
        if (k == 1) {  // another θ̄: immediate, and the kept terms stay
          Batch<T> y_bar(dim, batch);
          immediate.vjp(t, y, theta, a, y_bar, other_want);
          deferring.vjp(t, y, theta, a, y_bar, other);
          EXPECT_EQ(other, other_want) << widths;
        }
      }
      deferring.defer_weight_gradients(nullptr);  // flushes, and stops deferring
      EXPECT_EQ(got, want) << widths << " " << count << " wide " << wide_in_middle;
      // Not deferring any more: the next VJP adds at once.
      const Batch<T> y = Batch<T>::Random(dim, 1), a = Batch<T>::Random(dim, 1);
      Batch<T> y_bar(dim, 1);
      immediate.vjp(T(0.5), y, theta, a, y_bar, want);
      deferring.vjp(T(0.5), y, theta, a, y_bar, got);
      EXPECT_EQ(got, want) << widths;
    }
  }
}

TEST(MlpTest, DeferredWeightGradientsAreBitIdenticalToImmediate) {
  for (const bool time : {false, true}) {
    // Layers of 16 KiB or more defer (kDeferMinWeightBytes): 64 × 64, 81 × 70 (a row past
    // the last packet), 300 × 13 and 13 × 300, 2 × 2100; the others add at once.
    for (const char* widths : {"2,64,64,2", "3,70,81,3", "4,13,300,13,4", "2,2100,2", "9,17,9"}) {
      expect_deferred_matches_immediate<double>(widths, Activation::tanh, time);
      expect_deferred_matches_immediate<float>(widths, Activation::tanh, time);
    }
    expect_deferred_matches_immediate<double>("5,90,77,5", Activation::softplus, time);
  }
  // The buffer: four (x, g) columns of each deferring layer, at batch 1 only.
  EXPECT_EQ(Mlp<double>(parse_mlp_spec("2,64,64,2")).deferred_floats(1), 4 * (64 + 64));
  EXPECT_EQ(Mlp<float>(parse_mlp_spec("2,64,64,2")).deferred_floats(1), 4 * (64 + 64));
  EXPECT_EQ(Mlp<double>(parse_mlp_spec("2,64,64,2")).deferred_floats(2), 0);
  EXPECT_EQ(Mlp<double>(parse_mlp_spec("9,17,9")).deferred_floats(1), 0);
}

TEST(MlpTest, DeferWeightGradientsScopeFlushesAtItsEndAndDropsOnAnException) {
  const Mlp<double> f(parse_mlp_spec("3,24,90,3", Activation::tanh, true));  // 90 × 24 defers
  const Vector<double> theta = f.init_params(Init::pytorch_default, 2);
  const Batch<double> y = Batch<double>::Random(3, 1), a = Batch<double>::Random(3, 1);
  Batch<double> y_bar(3, 1);
  Vector<double> want = Vector<double>::Zero(theta.size());
  for (int k = 0; k < 6; ++k) f.vjp(0.25, y, theta, a, y_bar, want);
  Vector<double> got = Vector<double>::Zero(theta.size());
  {
    DeferWeightGradients<double> deferring(f, got);
    for (int k = 0; k < 6; ++k) f.vjp(0.25, y, theta, a, y_bar, got);
    EXPECT_NE(got, want);  // two of the six VJPs' W̄ terms are still kept
  }
  EXPECT_EQ(got, want);
  Vector<double> lost = Vector<double>::Zero(theta.size());
  try {
    DeferWeightGradients<double> deferring(f, lost);
    f.vjp(0.25, y, theta, a, y_bar, lost);
    throw Error("stop");
  } catch (const Error&) {
  }
  // The kept W̄ term was dropped, not added while unwinding: the 90 × 24 layer's W̄ block is
  // still zero. And nothing is kept now: a VJP into `lost` adds everything at once.
  const LayerShape& wide = f.layers()[1];
  EXPECT_TRUE(lost.segment(wide.weight_offset, wide.outputs * wide.inputs).isZero(0.0));
  Vector<double> one = Vector<double>::Zero(theta.size());
  f.vjp(0.25, y, theta, a, y_bar, one);
  const Vector<double> before = lost;
  f.vjp(0.25, y, theta, a, y_bar, lost);
  EXPECT_EQ(lost, before + one);
}

}  // namespace
}  // namespace revode
