// Central finite differences of a gradient problem's loss, the independent check of every
// exact gradient method.
#pragma once

#include <functional>

#include "revode/gradients/direct_backprop.hpp"

namespace revode::testing {

/// Loss of the discrete solve for given (θ, y0), with everything else as in `p`.
inline double loss_at(const GradientProblem<double>& p, const Vector<double>& theta,
                      const Batch<double>& y0) {
  const GradientProblem<double> q{p.field, p.stepper, p.control, p.save_at, p.t0,
                                  p.t1,    y0,        theta,     p.loss};
  return DirectBackprop<double>().compute(q).loss;
}

struct FiniteDifferenceGradient {
  Vector<double> grad_params;
  Batch<double> grad_y0;
};

/// Central differences with a step relative to each entry's size.
inline FiniteDifferenceGradient central_differences(const GradientProblem<double>& p,
                                                    double rel_step = 1e-6) {
  FiniteDifferenceGradient g{Vector<double>(p.theta.size()), Batch<double>(p.y0.rows(), p.y0.cols())};
  const Vector<double> theta = p.theta;
  const Batch<double> y0 = p.y0;
  for (Index i = 0; i < theta.size(); ++i) {
    const double h = rel_step * std::max(1.0, std::abs(theta[i]));
    Vector<double> plus = theta, minus = theta;
    plus[i] += h, minus[i] -= h;
    g.grad_params[i] = (loss_at(p, plus, y0) - loss_at(p, minus, y0)) / (2 * h);
  }
  for (Index i = 0; i < y0.size(); ++i) {
    const double h = rel_step * std::max(1.0, std::abs(y0.data()[i]));
    Batch<double> plus = y0, minus = y0;
    plus.data()[i] += h, minus.data()[i] -= h;
    g.grad_y0.data()[i] = (loss_at(p, theta, plus) - loss_at(p, theta, minus)) / (2 * h);
  }
  return g;
}

/// ‖a − b‖ / max(‖b‖, tiny): the relative error used by every exactness test.
template <class A, class B>
double relative_error(const A& a, const B& b) {
  return (a - b).norm() / std::max(b.norm(), 1e-300);
}

}  // namespace revode::testing
