// Analytic fields: every registry entry's VJP against finite differences, plus each field's
// closed forms and guards.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <cmath>
#include <random>
#include <string>

#include "revode/core/check_vjp.hpp"
#include "revode/core/error.hpp"
#include "revode/fields/kepler.hpp"
#include "revode/fields/linear.hpp"
#include "revode/fields/registry.hpp"
#include "revode/fields/white_dwarf.hpp"

namespace revode {
namespace {

Vector<double> to_vector(const std::vector<double>& values) {
  return Eigen::Map<const Vector<double>>(values.data(), Index(values.size()));
}

/// Columns y0 + spread · U(−1, 1), seeded.
Batch<double> states_near(const Vector<double>& y0, Index batch, double spread, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  Batch<double> y = y0.replicate(1, batch);
  for (Index j = 0; j < batch; ++j)
    for (Index i = 0; i < y.rows(); ++i) y(i, j) += spread * uniform(rng);
  return y;
}

class EveryAnalyticField : public ::testing::TestWithParam<std::string_view> {};

TEST_P(EveryAnalyticField, InfoMatchesField) {
  const AnalyticFieldInfo& info = analytic_field_info(GetParam());
  const auto field = make_analytic_field<double>(GetParam());
  EXPECT_EQ(info.name, GetParam());
  EXPECT_EQ(field->name().rfind(std::string(info.name), 0), 0u) << field->name();
  EXPECT_EQ(field->state_dim(), Index(info.default_y0.size()));
  EXPECT_EQ(field->param_count(), Index(info.default_params.size()));
  EXPECT_EQ(make_analytic_field<float>(GetParam())->state_dim(), field->state_dim());
  EXPECT_LT(info.t0, info.t1);
  EXPECT_FALSE(info.description.empty());

  const Vector<double> y0 = to_vector(info.default_y0);
  Batch<double> dy(field->state_dim(), 1), dy_clone(field->state_dim(), 1);
  field->eval(info.t0, y0, to_vector(info.default_params), dy);
  field->clone()->eval(info.t0, y0, to_vector(info.default_params), dy_clone);
  EXPECT_TRUE(all_finite(dy));
  EXPECT_EQ(dy, dy_clone);
}

TEST_P(EveryAnalyticField, VjpMatchesFiniteDifferences) {
  const AnalyticFieldInfo& info = analytic_field_info(GetParam());
  const auto field = make_analytic_field<double>(GetParam());
  // Parameters moved off their defaults so that no special value (μ = 1, GM = 1) hides a bug.
  const Vector<double> theta =
      to_vector(info.default_params)
          .cwiseProduct(states_near(Vector<double>::Ones(field->param_count()), 1, 0.2, 7));
  for (Index batch : {1, 5}) {
    const Batch<double> y = states_near(to_vector(info.default_y0), batch, 0.1, 11);
    const double t = 0.5 * (info.t0 + info.t1) + 0.1;
    const VjpCheckReport report = check_vjp(*field, t, y, theta);
    EXPECT_LT(report.max_relative_error_y, 1e-6) << report.message;
    EXPECT_LT(report.max_relative_error_theta, 1e-6) << report.message;
  }
}

TEST_P(EveryAnalyticField, FloatVjpMatchesFiniteDifferences) {
  const AnalyticFieldInfo& info = analytic_field_info(GetParam());
  const auto field = make_analytic_field<float>(GetParam());
  const Batch<float> y = states_near(to_vector(info.default_y0), 5, 0.1, 3).cast<float>();
  const auto report =
      check_vjp(*field, float(info.t0) + 0.3f, y, to_vector(info.default_params).cast<float>());
  EXPECT_TRUE(report.within(1e-2)) << report.message;
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryAnalyticField,
                         ::testing::ValuesIn(analytic_field_names().begin(),
                                             analytic_field_names().end()),
                         [](const auto& param_info) {
                           std::string name(param_info.param);
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

TEST(AnalyticFieldRegistry, UnknownNameListsKnownNames) {
  try {
    make_analytic_field<double>("lorenz");
    ADD_FAILURE() << "unknown name accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("unknown analytic field 'lorenz'"), std::string::npos) << message;
    for (std::string_view name : analytic_field_names())
      EXPECT_NE(message.find(name), std::string::npos) << message;
  }
  EXPECT_THROW(analytic_field_info("lorenz"), Error);
  EXPECT_EQ(analytic_field_names().size(), 6u);
}

TEST(LinearField, ClosedFormSatisfiesOde) {
  const LinearField<double> field(2);
  const Vector<double> theta = field.default_params();
  const Batch<double> a_matrix = theta.reshaped(2, 2);
  const Vector<double> y0{{2.0, 0.0}};
  EXPECT_TRUE(linear_exact_solution(a_matrix, y0, 0.0).isApprox(y0, 1e-14));
  const double h = 1e-5;
  for (double t : {0.3, 1.7, 4.0}) {
    const Vector<double> derivative =
        (linear_exact_solution(a_matrix, y0, t + h) - linear_exact_solution(a_matrix, y0, t - h)) /
        (2 * h);
    Batch<double> dy(2, 1);
    field.eval(t, linear_exact_solution(a_matrix, y0, t), theta, dy);
    EXPECT_LT((derivative - dy.col(0)).norm(), 1e-8 * (1 + dy.norm())) << "t = " << t;
  }
  EXPECT_THROW(linear_exact_solution(Batch<double>::Zero(2, 3), y0, 1.0), Error);
}

TEST(LinearField, DefaultsAreStableAndDimIsValidated) {
  for (Index dim : {1, 2, 3, 6}) {
    const Batch<double> a_matrix = LinearField<double>(dim).default_params().reshaped(dim, dim);
    EXPECT_LT(a_matrix.eigenvalues().real().maxCoeff(), 0.0) << "dim = " << dim;
  }
  try {
    LinearField<double> field(0);
    ADD_FAILURE() << "dim 0 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dim = 0"), std::string::npos) << e.what();
  }
  // dim² parameters: a named error rather than std::bad_alloc.
  const LinearField<float> widest(kMaxLinearDim);  // only stores dim
  EXPECT_EQ(widest.param_count(), kMaxLinearDim * kMaxLinearDim);
  try {
    LinearField<double> field(Index{1} << 31);
    ADD_FAILURE() << "dim 2^31 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dim = 2147483648"), std::string::npos) << e.what();
  }
}

TEST(KeplerField, CircularOrbitConservesInvariantsAndSolvesOde) {
  const KeplerField<double> field;
  for (const auto& [radius, gm] : {std::pair{1.0, 1.0}, std::pair{2.0, 3.0}}) {
    const Vector<double> theta = Vector<double>::Constant(1, gm);
    const double h = 1e-5;
    for (double t = 0.0; t <= 10.0; t += 0.5) {
      const Vector<double> state = kepler_circular_orbit(t, radius, gm);
      EXPECT_NEAR(kepler_energy(state, gm), -gm / (2 * radius), 1e-14);
      EXPECT_NEAR(kepler_angular_momentum(state), std::sqrt(gm * radius), 1e-14);
      const Vector<double> derivative =
          (kepler_circular_orbit(t + h, radius, gm) - kepler_circular_orbit(t - h, radius, gm)) /
          (2 * h);
      Batch<double> dy(4, 1);
      field.eval(t, state, theta, dy);
      EXPECT_LT((derivative - dy.col(0)).norm(), 1e-8) << "t = " << t;
    }
  }
  const Vector<double> start = kepler_circular_orbit(0.0);
  EXPECT_TRUE(start.isApprox(Vector<double>{{1.0, 0.0, 0.0, 1.0}}));
}

TEST(WhiteDwarfField, MatchesPublishedEquationAboveTheSurface) {
  const WhiteDwarfField<double> field;
  const Vector<double> theta = field.default_params();
  Batch<double> dy(2, 1);
  field.eval(1.0, Vector<double>{{1.0, 0.3}}, theta, dy);
  EXPECT_DOUBLE_EQ(dy(0, 0), 0.3);
  EXPECT_DOUBLE_EQ(dy(1, 0), -std::pow(1.0 - 0.001, 1.5) - 2 * 0.3 / 1.5);
}

TEST(WhiteDwarfField, NeverNanBelowTheSurface) {
  const WhiteDwarfField<double> field;
  const Vector<double> theta = field.default_params();  // C = 0.001: surface at |y1| ≈ 0.0316
  const Batch<double> y{{0.0, 0.01, -0.02, 0.03}, {0.5, -0.2, 0.0, 1.0}};
  const double t = 2.0;
  Batch<double> dy(2, 4), y_bar(2, 4);
  field.eval(t, y, theta, dy);
  ASSERT_TRUE(all_finite(dy));
  for (Index j = 0; j < y.cols(); ++j) EXPECT_DOUBLE_EQ(dy(1, j), -2 * y(1, j) / (t + 0.5));

  Vector<double> theta_bar = Vector<double>::Constant(1, 0.25);
  field.vjp(t, y, theta, Batch<double>::Ones(2, 4), y_bar, theta_bar);
  EXPECT_TRUE(all_finite(y_bar));
  EXPECT_TRUE(y_bar.row(0).isZero());
  EXPECT_EQ(theta_bar[0], 0.25);

  const auto report = check_vjp(field, t, y, theta);
  EXPECT_TRUE(report.within(1e-6)) << report.message;
}

}  // namespace
}  // namespace revode
