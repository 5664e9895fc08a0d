// DeqLayer: the VJP against central differences in z, x and θ (through the rectangular Mlp),
// the contractive initialiser and its Lipschitz bound, and shape errors.
#include "revode/deq/deq_layer.hpp"

#include <gtest/gtest.h>

#include <string>

#include "revode/core/error.hpp"
#include "support/deq_cases.hpp"

namespace revode {
namespace {

using testing::seeded_block;

TEST(DeqLayerTest, VjpMatchesCentralDifferences) {
  for (const Activation act : {Activation::tanh, Activation::softplus}) {
    const DeqLayer<double> layer({3, 2, {5, 4}, act});
    EXPECT_EQ(layer.param_count(), 5 * 5 + 5 + 4 * 5 + 4 + 3 * 4 + 3);
    const Vector<double> theta = layer.init_params(Init::pytorch_default, 11, std::nullopt);
    const Batch<double> z = seeded_block(3, 4, 1), x = seeded_block(2, 4, 2);
    const Batch<double> a = seeded_block(3, 4, 3);
    Batch<double> z_bar = Batch<double>::Constant(3, 4, std::nan(""));  // overwritten
    Batch<double> x_bar = Batch<double>::Constant(2, 4, 0.25);          // accumulated
    Vector<double> theta_bar = Vector<double>::Constant(theta.size(), -0.5);
    layer.vjp(z, x, theta, a, z_bar, x_bar, theta_bar);
    x_bar.array() -= 0.25;
    theta_bar.array() += 0.5;

    const auto loss = [&](const Batch<double>& zz, const Batch<double>& xx,
                          const Vector<double>& th) {
      Batch<double> out(3, 4);
      layer.eval(zz, xx, th, out);
      return a.cwiseProduct(out).sum();
    };
    const double h = 1e-6;
    const Batch<double> dz = seeded_block(3, 4, 4), dx = seeded_block(2, 4, 5);
    const Vector<double> dth = seeded_block(theta.size(), 1, 6);
    const double fd_z = (loss(z + h * dz, x, theta) - loss(z - h * dz, x, theta)) / (2 * h);
    const double fd_x = (loss(z, x + h * dx, theta) - loss(z, x - h * dx, theta)) / (2 * h);
    const double fd_th = (loss(z, x, theta + h * dth) - loss(z, x, theta - h * dth)) / (2 * h);
    EXPECT_NEAR(z_bar.cwiseProduct(dz).sum(), fd_z, 1e-8 * std::max(1.0, std::abs(fd_z)));
    EXPECT_NEAR(x_bar.cwiseProduct(dx).sum(), fd_x, 1e-8 * std::max(1.0, std::abs(fd_x)));
    EXPECT_NEAR(theta_bar.dot(dth), fd_th, 1e-8 * std::max(1.0, std::abs(fd_th)));
  }
}

TEST(DeqLayerTest, ContractiveInitialisationBoundsTheLipschitzConstant) {
  const DeqLayer<double> layer({8, 2, {32}});
  const Vector<double> plain = layer.init_params(Init::pytorch_default, 5, std::nullopt);
  EXPECT_GT(layer.lipschitz_bound(plain), 0.5);  // the plain initialiser is not a 0.5-contraction
  for (const double gamma : {0.3, 0.5, 0.9}) {
    const Vector<double> theta = layer.init_params(Init::pytorch_default, 5, gamma);
    EXPECT_LE(layer.lipschitz_bound(theta), gamma);
    EXPECT_GT(layer.lipschitz_bound(theta), 0.99 * gamma);
    // Only the z-columns of the first layer moved.
    const Index z_block = 32 * 8;
    EXPECT_EQ(theta.tail(theta.size() - z_block), plain.tail(plain.size() - z_block));
    // The bound holds for actual pairs of states.
    const Batch<double> x = seeded_block(2, 16, 7);
    const Batch<double> z1 = seeded_block(8, 16, 8, 3.0), z2 = seeded_block(8, 16, 9, 3.0);
    Batch<double> f1(8, 16), f2(8, 16);
    layer.eval(z1, x, theta, f1);
    layer.eval(z2, x, theta, f2);
    for (Index j = 0; j < 16; ++j)
      EXPECT_LE((f1.col(j) - f2.col(j)).norm(), gamma * (z1.col(j) - z2.col(j)).norm());
  }
  // A layer already inside the bound is left alone (sigmoid: sup σ' = ¼).
  const DeqLayer<double> small({2, 8, {4}, Activation::sigmoid});
  const Vector<double> small_plain = small.init_params(Init::pytorch_default, 5, std::nullopt);
  ASSERT_LT(small.lipschitz_bound(small_plain), 0.5);
  EXPECT_EQ(small.init_params(Init::pytorch_default, 5, 0.5), small_plain);
  EXPECT_THROW(layer.init_params(Init::pytorch_default, 5, 1.0), Error);
  EXPECT_THROW(layer.init_params(Init::pytorch_default, 5, 0.0), Error);
}

TEST(DeqLayerTest, LimitLipschitzProjectsBackAfterAStep) {
  const DeqLayer<float> layer({8, 2, {32}});  // θ in double whatever T is
  Vector<double> theta = layer.init_params(Init::pytorch_default, 5, 0.5).cast<double>();
  const Vector<double> inside = theta;
  EXPECT_LE(layer.limit_lipschitz(theta, 0.9), 0.5);
  EXPECT_EQ(theta, inside);  // already a 0.9-contraction: untouched
  theta *= 3.0;              // an optimizer step that grew every layer
  const double before = layer.limit_lipschitz(theta, 0.9);
  EXPECT_NEAR(before, 0.5 * 9, 1e-4);  // W_z and W_2 each grew 3×
  EXPECT_LE(layer.lipschitz_bound(theta.cast<float>()), 0.9);
  EXPECT_GT(layer.lipschitz_bound(theta.cast<float>()), 0.89);
  EXPECT_THROW(layer.limit_lipschitz(theta, 1.5), Error);
  Vector<double> short_theta(4);
  EXPECT_THROW(layer.limit_lipschitz(short_theta, 0.5), Error);
}

TEST(DeqLayerTest, Float32AgreesWithFloat64) {
  const DeqLayer<double> f64({4, 3, {8}});
  const DeqLayer<float> f32({4, 3, {8}});
  const Vector<double> theta = f64.init_params(Init::glorot, 2, 0.5);
  const Vector<float> theta32 = f32.init_params(Init::glorot, 2, 0.5);
  EXPECT_LE((theta32.cast<double>() - theta).cwiseAbs().maxCoeff(), 1e-6);
  const Batch<double> z = seeded_block(4, 3, 1), x = seeded_block(3, 3, 2);
  Batch<double> out(4, 3);
  Batch<float> out32(4, 3);
  f64.eval(z, x, theta, out);
  f32.eval(z.cast<float>(), x.cast<float>(), theta32, out32);
  EXPECT_LE((out32.cast<double>() - out).cwiseAbs().maxCoeff(), 1e-5);
}

TEST(DeqLayerTest, BadSpecsAndShapesAreErrors) {
  EXPECT_THROW(DeqLayer<double>({0, 2, {4}}), Error);
  EXPECT_THROW(DeqLayer<double>({3, 0, {4}}), Error);
  EXPECT_THROW(DeqLayer<double>({3, 2, {4, 0}}), Error);
  const DeqLayer<double> layer({3, 2, {4}});
  EXPECT_EQ(layer.name(), "deq:3,2:4 tanh");
  const Vector<double> theta = layer.init_params(Init::pytorch_default, 1);
  const Batch<double> z = Batch<double>::Zero(3, 5), x = Batch<double>::Zero(2, 5);
  Batch<double> out(3, 5), z_bar(3, 5), x_bar = Batch<double>::Zero(2, 5);
  Vector<double> theta_bar = Vector<double>::Zero(theta.size());
  try {
    layer.eval(z, Batch<double>::Zero(3, 5), theta, out);
    ADD_FAILURE() << "no error for x with 3 rows";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected z 3×batch and x 2×batch"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(layer.eval(z, x.leftCols(4), theta, out), Error);
  Batch<double> wrong_out(3, 4);
  EXPECT_THROW(layer.eval(z, x, theta, wrong_out), Error);
  EXPECT_THROW(layer.eval(z, x, theta.head(4), out), Error);
  EXPECT_THROW(layer.vjp(z, x, theta, Batch<double>::Zero(2, 5), z_bar, x_bar, theta_bar), Error);
  Vector<double> short_bar(3);
  EXPECT_THROW(layer.vjp(z, x, theta, z, z_bar, x_bar, short_bar), Error);
  // The rectangular Mlp behind it keeps the square default for vector fields.
  EXPECT_THROW(Mlp<double>(MlpSpec{{5, 4, 3}}), Error);
  EXPECT_NO_THROW(Mlp<double>(MlpSpec{{5, 4, 3}, Activation::tanh, false, true}));
}

}  // namespace
}  // namespace revode
