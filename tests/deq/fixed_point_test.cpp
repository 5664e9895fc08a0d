// DEQ forward solvers: the convergence rate on a contractive linear map (plain: L; reversible:
// the spectral radius of the linearised (y, z) step, never above |1−β| + βL), the stopping rule
// and its statistics, and the errors for β = 1, β out of range and bad options or shapes.
#include "revode/deq/fixed_point.hpp"

#include <gtest/gtest.h>

#include <Eigen/LU>
#include <cmath>
#include <complex>
#include <string>

#include "revode/core/error.hpp"
#include "support/deq_cases.hpp"

namespace revode {
namespace {

using testing::seeded_block;

/// f(z, x) = A z + u x + b with A = diag(L, −L) (real eigenvalues ±L) or L times a rotation by
/// 90° (eigenvalues ±iL): an affine DeqLayer (no hidden layer) with θ = [A | u], b.
struct LinearMap {
  DeqLayer<double> layer{DeqSpec{2, 1, {}}};
  Vector<double> theta = Vector<double>(8);
  Eigen::Matrix2d a;
  Eigen::Vector2d c;  // u x + b for x = 1
  std::complex<double> eigenvalue;

  LinearMap(double lipschitz, bool rotation) {
    a << lipschitz, 0, 0, -lipschitz;
    eigenvalue = lipschitz;
    if (rotation) {
      a << 0, -lipschitz, lipschitz, 0;
      eigenvalue = {0, lipschitz};
    }
    const Eigen::Vector2d u(0.7, -0.4), b(0.3, 0.5);
    c = u + b;
    theta << a(0, 0), a(1, 0), a(0, 1), a(1, 1), u(0), u(1), b(0), b(1);
  }
  Eigen::Vector2d fixed_point() const { return (Eigen::Matrix2d::Identity() - a).lu().solve(c); }

  /// ‖(y_n, z_n) − (z*, z*)‖ after exactly n iterations (tol 0).
  double error_after(Index n, FixedPointSolver solver, double beta) const {
    DeqOptions o;
    o.solver = solver, o.beta = beta, o.tol = 0.0, o.max_steps = n;
    o.gradient = DeqGradient::implicit;
    const DeqForward<double> fwd = deq_forward(layer, Batch<double>::Ones(1, 1), theta, o);
    EXPECT_EQ(fwd.stats.iterations, n) << "the absolute floor 1e-8 was hit; shorten the window";
    const Eigen::Vector2d star = fixed_point();
    double e = (fwd.z.col(0) - star).squaredNorm();
    if (solver == FixedPointSolver::reversible) e += (fwd.y.col(0) - star).squaredNorm();
    return std::sqrt(e);
  }
};

/// Spectral radius of the reversible step linearised on an eigenvector of A with eigenvalue
/// λ: M = [[1−β, βλ], [βλ(1−β), 1−β+β²λ²]], det M = (1−β)², tr M = 2(1−β) + β²λ².
double reversible_rate(double beta, std::complex<double> lambda) {
  const std::complex<double> tr = 2 * (1 - beta) + beta * beta * lambda * lambda;
  const std::complex<double> det = (1 - beta) * (1 - beta);
  const std::complex<double> root = std::sqrt(tr * tr - 4.0 * det);
  return std::max(std::abs((tr + root) / 2.0), std::abs((tr - root) / 2.0));
}

/// The geometric mean contraction per iteration over [n2/2, n2], with n2 where an iteration
/// contracting at `expected` has shrunk the error by 10⁻⁷: long enough for the subdominant
/// mode to fade, short enough to stay above the stopping rule's absolute floor (1e-8).
double measured_rate(const LinearMap& m, FixedPointSolver solver, double beta, double expected) {
  const auto n2 = Index(std::floor(std::log(1e-7) / std::log(expected)));
  const Index n1 = n2 / 2;
  return std::pow(m.error_after(n2, solver, beta) / m.error_after(n1, solver, beta),
                  1.0 / double(n2 - n1));
}

TEST(FixedPointTest, PlainIterationConvergesAtRateL) {
  for (const double lipschitz : {0.3, 0.6, 0.9}) {
    const LinearMap m(lipschitz, false);
    EXPECT_NEAR(measured_rate(m, FixedPointSolver::plain, 0.5, lipschitz), lipschitz, 1e-9);
  }
}

TEST(FixedPointTest, ReversibleRateMatchesTheLinearAnalysisWithinTheBound) {
  struct Case {
    double beta, lipschitz;
    bool rotation;
  };
  for (const Case c : {Case{0.5, 0.5, false}, Case{0.3, 0.8, false}, Case{0.8, 0.5, false},
                       Case{0.5, 0.2, false}, Case{1.3, 0.5, true}, Case{1.5, 0.3, true}}) {
    const LinearMap m(c.lipschitz, c.rotation);
    const double predicted = reversible_rate(c.beta, m.eigenvalue);
    const double bound = std::abs(1 - c.beta) + c.beta * c.lipschitz;
    const double rate = measured_rate(m, FixedPointSolver::reversible, c.beta, predicted);
    SCOPED_TRACE(::testing::Message()
                 << "beta " << c.beta << " L " << c.lipschitz
                 << (c.rotation ? " rotation" : " real") << ": measured " << rate << ", predicted "
                 << predicted << ", bound " << bound);
    EXPECT_NEAR(rate, predicted, 0.01 * predicted);
    EXPECT_LE(rate, bound + 1e-3);
    EXPECT_LE(predicted, bound);
  }
}

TEST(FixedPointTest, StopsAtTheFirstIterateThatMeetsTheRule) {
  const DeqLayer<double> layer({4, 3, {8}});
  const Vector<double> theta = layer.init_params(Init::pytorch_default, 3, 0.6);
  const Batch<double> x = seeded_block(3, 6, 4, 2.0);
  for (const auto solver : {FixedPointSolver::plain, FixedPointSolver::reversible}) {
    DeqOptions o;
    o.solver = solver, o.tol = 1e-6, o.max_steps = 200, o.gradient = DeqGradient::implicit;
    const DeqForward<double> fwd = deq_forward(layer, x, theta, o);
    const Index n = fwd.stats.iterations;
    EXPECT_TRUE(fwd.stats.converged);
    EXPECT_GT(n, 3);
    EXPECT_LT(n, 200);
    EXPECT_EQ(fwd.stats.nfe, solver == FixedPointSolver::plain ? n + 1 : 2 * n + 1);
    Batch<double> f(4, 6);
    layer.eval(fwd.z, x, theta, f);
    for (Index j = 0; j < 6; ++j)
      EXPECT_LT((fwd.z.col(j) - f.col(j)).norm(), 1e-6 * f.col(j).norm() + 1e-8);
    EXPECT_LT(fwd.stats.residual, 1e-6 + 1e-8);
    o.max_steps = n - 1;  // one iteration short: the rule does not hold yet
    const DeqForward<double> early = deq_forward(layer, x, theta, o);
    EXPECT_FALSE(early.stats.converged);
    EXPECT_EQ(early.stats.iterations, n - 1);
    EXPECT_GE(early.stats.residual, 1e-6 * 0.5);
    EXPECT_NE(early.stats.brief().find("max_steps"), std::string::npos);
  }
}

void expect_error(const DeqOptions& o, const std::string& fragment) {
  try {
    validate(o);
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(FixedPointTest, BetaOneOrOutOfRangeIsAClearError) {
  for (const double beta : {0.0, 2.0, -0.5, 2.5, std::nan("")}) {
    DeqOptions o;
    o.beta = beta;
    expect_error(o, "required: 0 < beta < 2");
  }
  DeqOptions one;
  one.beta = 1.0;
  expect_error(one, "beta != 1");
  DeqOptions o;
  o.tol = -1e-3;
  expect_error(o, "tol = -0.001");
  o = {};
  o.max_steps = 0;
  expect_error(o, "max_steps >= 1");
  o = {};
  o.solver = FixedPointSolver::plain;  // gradient defaults to reversible
  expect_error(o, "needs solver 'reversible'");
  EXPECT_NO_THROW(validate(DeqOptions{}));
  EXPECT_THROW(parse_deq_gradient("adjoint"), Error);
  EXPECT_EQ(parse_fixed_point_solver("plain"), FixedPointSolver::plain);
  // deq_forward validates too.
  const DeqLayer<double> layer({2, 1, {}});
  EXPECT_THROW(deq_forward(layer, Batch<double>::Ones(1, 1), Vector<double>::Zero(8), one), Error);
}

TEST(FixedPointTest, BadShapesAndDivergenceAreErrors) {
  const DeqLayer<double> layer({3, 2, {4}});
  const Vector<double> theta = layer.init_params(Init::pytorch_default, 1, 0.5);
  const DeqOptions o;
  EXPECT_THROW(deq_forward(layer, Batch<double>::Ones(3, 2), theta, o), Error);  // x rows
  EXPECT_THROW(deq_forward(layer, Batch<double>::Ones(2, 0), theta, o), Error);  // no samples
  const Vector<double> short_theta = theta.head(5);
  EXPECT_THROW(deq_forward(layer, Batch<double>::Ones(2, 2), short_theta, o), Error);
  // An expanding affine map (A = 3 I) overflows: reported, not returned as Inf.
  LinearMap m(0.5, false);
  m.theta.head(4) << 3, 0, 0, 3;
  DeqOptions plain;
  plain.solver = FixedPointSolver::plain, plain.gradient = DeqGradient::implicit;
  plain.max_steps = 2000;
  EXPECT_THROW(deq_forward(m.layer, Batch<double>::Ones(1, 1), m.theta, plain), Error);
}

}  // namespace
}  // namespace revode
