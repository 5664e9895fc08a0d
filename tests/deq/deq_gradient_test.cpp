// DEQ gradients: reversible equals backprop through the same iteration (float64 to 1e-10,
// float32 to round-off), both equal central differences, implicit approaches the exact
// gradient as the forward tolerance tightens, the reconstruction error, costs and memory.
#include "revode/deq/deq_gradient.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "revode/core/error.hpp"
#include "support/deq_cases.hpp"
#include "support/finite_difference.hpp"

namespace revode {
namespace {

using testing::linear_loss;
using testing::linear_loss_gradient;
using testing::relative_error;
using testing::seeded_block;

struct DeqCase {
  DeqLayer<double> layer;
  Vector<double> theta;
  Batch<double> x, w;
};

DeqCase make_case(Index dim, Index input, std::vector<Index> hidden, Index batch,
                  double contraction) {
  DeqCase s{DeqLayer<double>({dim, input, std::move(hidden)}),
            {},
            seeded_block(input, batch, 1),
            seeded_block(dim, batch, 2)};
  s.theta = s.layer.init_params(Init::pytorch_default, 7, contraction);
  return s;
}

DeqOptions options(double beta, double tol, Index max_steps, DeqGradient gradient,
                   FixedPointSolver solver = FixedPointSolver::reversible) {
  DeqOptions o;
  o.solver = solver;
  o.beta = beta;
  o.tol = tol;
  o.max_steps = max_steps;
  o.gradient = gradient;
  return o;
}

TEST(DeqGradientTest, ReversibleMatchesBackpropThroughTheSameIteration) {
  const DeqCase s = make_case(4, 3, {8}, 5, 0.7);
  for (const double beta : {0.5, 0.8, 1.3})
    for (const double tol : {0.0, 1e-4}) {
      // β = 0.8's inverse amplifies round-off about 8× per iteration, so after 12 iterations
      // the agreement depends on the compiler's rounding (2e-10 seen in the sanitizer build):
      // 8 iterations keep this exactness check well inside round-off on every build.
      const Index steps = beta == 0.8 ? 8 : 12;
      const auto rev = linear_loss_gradient(s.layer, s.x, s.theta,
                                            options(beta, tol, steps, DeqGradient::reversible), s.w);
      const auto bp = linear_loss_gradient(s.layer, s.x, s.theta,
                                           options(beta, tol, steps, DeqGradient::backprop), s.w);
      SCOPED_TRACE(::testing::Message() << "beta " << beta << " tol " << tol);
      EXPECT_EQ(rev.stats.iterations, bp.stats.iterations);
      EXPECT_GE(rev.stats.iterations, 5);
      EXPECT_LE(relative_error(rev.grad_params, bp.grad_params), 1e-10);
      EXPECT_LE(relative_error(rev.grad_x, bp.grad_x), 1e-10);
      EXPECT_GT(bp.grad_params.norm(), 1e-3);
      // Exact even where the rebuilt iterates are not (β = 0.8, 12 iterations: reconstruction
      // error ~1e-5):
      // an error mode the inverse amplifies by 1/λ is met by a cotangent shrinking by λ.
      EXPECT_TRUE(std::isfinite(rev.stats.reconstruction_error));
      EXPECT_EQ(bp.stats.reconstruction_error, 0.0);
      const Index n = rev.stats.iterations;
      // A walk whose drift the guard repaired (β = 0.8 and 1.3 drift past 1e-10 here) also
      // pays the repair's replay and segment walks; a walk within tolerance costs 2n.
      if (!rev.stats.guard.repaired) {
        EXPECT_EQ(rev.stats.backward_nfe, 2 * n);
        EXPECT_EQ(rev.stats.nvjp, 2 * n);
      } else {
        EXPECT_GT(rev.stats.backward_nfe, 2 * n);
        EXPECT_GT(rev.stats.guard.anchors, 0);
      }
      EXPECT_EQ(bp.stats.backward_nfe, 0);
      EXPECT_EQ(bp.stats.nvjp, 2 * n);
    }
}

TEST(DeqGradientTest, ReconstructionErrorIsReportedAndGrowsWithTheInverseAmplification) {
  // Each inverse step divides by 1 − β, so round-off grows roughly like ((1 + βL)/|1−β|)ⁿ.
  const DeqCase s = make_case(4, 3, {8}, 5, 0.7);
  const auto error = [&](double beta, Index steps) {
    DeqOptions o = options(beta, 0.0, steps, DeqGradient::reversible);
    o.guard.policy = GuardPolicy::warn;  // the raw walk's error, which repair would mend
    return linear_loss_gradient(s.layer, s.x, s.theta, o, s.w).stats.reconstruction_error;
  };
  double previous = 0.0;
  for (const Index steps : {4, 8, 12}) {
    const double e = error(0.5, steps);
    EXPECT_LE(e, 1e-11) << steps << " steps";
    EXPECT_GE(e, previous) << steps << " steps";
    previous = e;
  }
  EXPECT_GT(previous, 0.0);
  EXPECT_GT(error(0.8, 12), 100 * error(0.5, 12));
  EXPECT_LT(error(0.8, 12), 1e-3);
}

TEST(DeqGradientTest, GuardRepairsLongReversibleDeqs) {
  // β = 0.8 and 1.3 over 15–40 iterations: the rebuilt start iterates are off by far more than the
  // gradient can tolerate unless the guard repairs the walk.
  const DeqCase s = make_case(4, 3, {8}, 5, 0.7);
  for (const double beta : {0.8, 1.3}) {
    const Index steps = 40;
    const auto bp = linear_loss_gradient(s.layer, s.x, s.theta,
                                         options(beta, 0.0, steps, DeqGradient::backprop), s.w);
    DeqOptions o = options(beta, 0.0, steps, DeqGradient::reversible);
    const auto repaired = linear_loss_gradient(s.layer, s.x, s.theta, o, s.w);
    o.guard.policy = GuardPolicy::warn;
    const auto warned = linear_loss_gradient(s.layer, s.x, s.theta, o, s.w);
    o.guard.policy = GuardPolicy::error;
    SCOPED_TRACE(::testing::Message() << "beta " << beta);
    EXPECT_THROW(linear_loss_gradient(s.layer, s.x, s.theta, o, s.w), ReconstructionError);
    ASSERT_GE(repaired.stats.iterations, 15);  // the absolute 1e-8 of the rule stops it early
    EXPECT_TRUE(repaired.stats.guard.repaired);
    EXPECT_GT(repaired.stats.guard.drift, 1e-6);
    EXPECT_LE(relative_error(repaired.grad_params, bp.grad_params), 1e-10);
    EXPECT_LE(relative_error(repaired.grad_x, bp.grad_x), 1e-10);
    EXPECT_TRUE(warned.stats.guard.flagged);
    // The documented bound holds for the unrepaired walk too.
    const double e_warned = relative_error(warned.grad_params, bp.grad_params);
    if (std::isfinite(warned.stats.guard.drift)) {
      EXPECT_LE(e_warned, warned.stats.guard.gradient_error_bound);
    }
    // Memory: anchors, not every iterate (backprop holds 2n blocks).
    EXPECT_LT(repaired.stats.guard.anchors, 2 * steps);
  }
}

TEST(DeqGradientTest, BothAgreeWithCentralDifferencesOnATinyCase) {
  const DeqCase s = make_case(2, 2, {3}, 2, 0.6);
  const Index steps = 6;  // tol 0: exactly 6 iterations for every perturbed θ and x
  for (const auto& [solver, gradient] :
       {std::pair{FixedPointSolver::reversible, DeqGradient::reversible},
        std::pair{FixedPointSolver::reversible, DeqGradient::backprop},
        std::pair{FixedPointSolver::plain, DeqGradient::backprop}}) {
    const DeqOptions o = options(0.5, 0.0, steps, gradient, solver);
    const auto exact = linear_loss_gradient(s.layer, s.x, s.theta, o, s.w);
    ASSERT_EQ(exact.stats.iterations, steps);
    Vector<double> fd_theta(s.theta.size());
    Batch<double> fd_x(s.x.rows(), s.x.cols());
    const double h = 1e-6;
    for (Index i = 0; i < s.theta.size(); ++i) {
      Vector<double> plus = s.theta, minus = s.theta;
      plus[i] += h, minus[i] -= h;
      fd_theta[i] =
          (linear_loss(s.layer, s.x, plus, o, s.w) - linear_loss(s.layer, s.x, minus, o, s.w)) /
          (2 * h);
    }
    for (Index i = 0; i < s.x.size(); ++i) {
      Batch<double> plus = s.x, minus = s.x;
      plus.data()[i] += h, minus.data()[i] -= h;
      fd_x.data()[i] = (linear_loss(s.layer, plus, s.theta, o, s.w) -
                        linear_loss(s.layer, minus, s.theta, o, s.w)) /
                       (2 * h);
    }
    SCOPED_TRACE(::testing::Message() << solver_name(solver) << " + " << gradient_name(gradient));
    EXPECT_LE(relative_error(exact.grad_params, fd_theta), 1e-7);
    EXPECT_LE(relative_error(exact.grad_x, fd_x), 1e-7);
  }
}

TEST(DeqGradientTest, ImplicitApproachesTheExactGradientAsTheToleranceTightens) {
  const DeqCase s = make_case(4, 3, {8}, 5, 0.7);
  // The gradient of L(z*): backprop through an iteration run to the rule's absolute floor.
  const auto exact = linear_loss_gradient(s.layer, s.x, s.theta,
                                          options(0.5, 0.0, 400, DeqGradient::backprop), s.w);
  ASSERT_TRUE(exact.stats.converged);
  for (const auto solver : {FixedPointSolver::plain, FixedPointSolver::reversible}) {
    double previous = 1.0;
    for (const double tol : {1e-1, 1e-2, 1e-3, 1e-4, 1e-6}) {
      const auto implicit = linear_loss_gradient(
          s.layer, s.x, s.theta, options(0.5, tol, 400, DeqGradient::implicit, solver), s.w);
      const double error = relative_error(implicit.grad_params, exact.grad_params);
      SCOPED_TRACE(::testing::Message() << solver_name(solver) << " tol " << tol);
      EXPECT_TRUE(implicit.stats.converged);
      EXPECT_LT(error, previous);
      EXPECT_LT(error, 10 * tol);
      EXPECT_GE(implicit.stats.adjoint_iterations, 1);
      EXPECT_EQ(implicit.stats.nvjp, implicit.stats.adjoint_iterations + 1);
      EXPECT_EQ(implicit.stats.reconstruction_error, 0.0);
      previous = error;
    }
    EXPECT_LT(previous, 1e-5);
  }
}

TEST(DeqGradientTest, ReversibleMemoryIsIndependentOfTheIterations) {
  const DeqCase s = make_case(4, 3, {8}, 5, 0.7);
  const auto floats = [&](DeqGradient g, Index steps) {
    return linear_loss_gradient(s.layer, s.x, s.theta, options(0.5, 0.0, steps, g), s.w)
        .stats.stored_floats;
  };
  const Index block = 4 * 5;
  // 12 iterations at β = 0.5 stay within the guard's tolerance (20 drift past 1e-10 and are
  // repaired with anchors: GuardRepairsLongReversibleDeqs).
  EXPECT_EQ(floats(DeqGradient::reversible, 5), floats(DeqGradient::reversible, 12));
  EXPECT_EQ(floats(DeqGradient::implicit, 5), floats(DeqGradient::implicit, 12));
  EXPECT_EQ(floats(DeqGradient::backprop, 12) - floats(DeqGradient::backprop, 5), 2 * 7 * block);
  EXPECT_LT(floats(DeqGradient::reversible, 12), floats(DeqGradient::backprop, 12));
}

TEST(DeqGradientTest, Float32ReversibleMatchesBackpropToRoundOff) {
  const DeqLayer<float> layer({4, 3, {8}});
  const Vector<float> theta = layer.init_params(Init::pytorch_default, 7, 0.7);
  const Batch<float> x = seeded_block(3, 5, 1).cast<float>();
  const Batch<float> w = seeded_block(4, 5, 2).cast<float>();
  for (const DeqGradient g : {DeqGradient::reversible, DeqGradient::implicit}) {
    const auto a = linear_loss_gradient(layer, x, theta, options(0.5, 1e-4, 12, g), w);
    const auto b =
        linear_loss_gradient(layer, x, theta, options(0.5, 1e-4, 12, DeqGradient::backprop), w);
    EXPECT_LE(relative_error(a.grad_params.cast<double>(), b.grad_params.cast<double>()),
              g == DeqGradient::reversible ? 1e-4 : 1e-2)
        << gradient_name(g);
    EXPECT_LE(a.stats.reconstruction_error, 1e-2);  // float32 ε ≈ 6e-8, amplified as above
  }
}

TEST(DeqGradientTest, BadShapesAreErrors) {
  const DeqCase s = make_case(4, 3, {8}, 5, 0.7);
  const DeqOptions o = options(0.5, 1e-6, 10, DeqGradient::reversible);
  const DeqForward<double> fwd = deq_forward(s.layer, s.x, s.theta, o);
  const Batch<double> wrong_bar(4, 4), wrong_x(2, 5);
  const Vector<double> short_theta = s.theta.head(3);
  EXPECT_THROW(deq_backward(s.layer, fwd, s.x, s.theta, wrong_bar), Error);
  EXPECT_THROW(deq_backward(s.layer, fwd, wrong_x, s.theta, s.w), Error);
  EXPECT_THROW(deq_backward(s.layer, fwd, s.x, short_theta, s.w), Error);
  DeqForward<double> no_tape = fwd;
  no_tape.options.gradient = DeqGradient::backprop;
  EXPECT_THROW(deq_backward(s.layer, no_tape, s.x, s.theta, s.w), Error);
  try {
    deq_backward(s.layer, fwd, s.x, s.theta, wrong_bar);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("z_bar is 4×4, expected 4×5"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace revode
