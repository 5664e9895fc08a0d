/// The three DEQ backward passes. Reversible and backprop share one transposed step and differ
/// only in where the iterates come from (rebuilt by the inverse vs read from the tape).
#include "revode/deq/deq_gradient.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "revode/core/error.hpp"
#include "stopping_rule.hpp"

namespace revode {
namespace {

/// Buffers of one backward walk and the transposed-step kernel.
template <class T>
struct Walk {
  const DeqMap<T>& layer;
  ConstBatchRef<T> x;
  ConstVectorRef<T> theta;
  T beta;
  Batch<T> y_bar, z_bar, scaled, vjp_out;
  DeqGradientResult<T>& result;

  Walk(const DeqMap<T>& l, ConstBatchRef<T> x_, ConstVectorRef<T> th, double b,
       ConstBatchRef<T> z_bar0, DeqGradientResult<T>& r)
      : layer(l),
        x(x_),
        theta(th),
        beta(T(b)),
        y_bar(Batch<T>::Zero(z_bar0.rows(), z_bar0.cols())),
        z_bar(z_bar0),
        scaled(z_bar0.rows(), z_bar0.cols()),
        vjp_out(z_bar0.rows(), z_bar0.cols()),
        result(r) {}

  /// into += β J_f(at)ᵀ from; θ̄ += β (∂f/∂θ)ᵀ from; x̄ += β (∂f/∂x)ᵀ from.
  void add_vjp(const Batch<T>& at, const Batch<T>& from, Batch<T>& into) {
    scaled = beta * from;
    layer.vjp(at, x, theta, scaled, vjp_out, result.grad_x, result.grad_params);
    ++result.stats.nvjp;
    into += vjp_out;
  }

  /// The transpose of step k → k+1, given y_{k+1} and z_k; (ȳ, z̄) go from k+1 to k.
  void step_back(const Batch<T>& y_next, const Batch<T>& z_k) {
    add_vjp(y_next, z_bar, y_bar);  // z_{k+1} = (1−β) z_k + β f(y_{k+1})
    z_bar *= T(1) - beta;
    add_vjp(z_k, y_bar, z_bar);  // y_{k+1} = (1−β) y_k + β f(z_k)
    y_bar *= T(1) - beta;
  }

  static constexpr Index kBlocks = 4;  // y_bar, z_bar, scaled, vjp_out
};

template <class T>
void reversible_walk(const DeqForward<T>& fwd, Walk<T>& walk) {
  const T beta = walk.beta, keep = T(1) - walk.beta;
  Batch<T> y = fwd.y, z = fwd.z, f(z.rows(), z.cols());
  DeqStats& stats = walk.result.stats;
  for (Index k = fwd.stats.iterations; k-- > 0;) {
    walk.layer.eval(y, walk.x, walk.theta, f);  // f(y_{k+1})
    ++stats.backward_nfe;
    z = (z - beta * f) / keep;  // z_k
    walk.add_vjp(y, walk.z_bar, walk.y_bar);
    walk.z_bar *= keep;
    walk.layer.eval(z, walk.x, walk.theta, f);  // f(z_k)
    ++stats.backward_nfe;
    y = (y - beta * f) / keep;  // y_k
    walk.add_vjp(z, walk.y_bar, walk.z_bar);
    walk.y_bar *= keep;
  }
  const double scale = std::max(static_cast<double>(fwd.z.cwiseAbs().maxCoeff()), 1e-300);
  stats.reconstruction_error =
      static_cast<double>(std::max(y.cwiseAbs().maxCoeff(), z.cwiseAbs().maxCoeff())) / scale;
  stats.stored_floats = (Walk<T>::kBlocks + 3) * z.size();  // + y, z, f
}

template <class T>
void backprop_walk(const DeqForward<T>& fwd, Walk<T>& walk) {
  const Index n = fwd.stats.iterations;
  if (fwd.options.solver == FixedPointSolver::reversible) {
    for (Index k = n; k-- > 0;) walk.step_back(fwd.tape[2 * k + 1], fwd.tape[2 * k]);
  } else {
    // z_{k+1} = f(z_k): z̄ ← J_f(z_k)ᵀ z̄ (β = 1 in Walk's terms, so no scaled copy).
    for (Index k = n; k-- > 0;) {
      walk.layer.vjp(fwd.tape[k], walk.x, walk.theta, walk.z_bar, walk.vjp_out, walk.result.grad_x,
                     walk.result.grad_params);
      ++walk.result.stats.nvjp;
      std::swap(walk.z_bar, walk.vjp_out);
    }
  }
  walk.result.stats.stored_floats = (Walk<T>::kBlocks + Index(fwd.tape.size())) * fwd.z.size();
}

template <class T>
void implicit_adjoint(const DeqMap<T>& layer, const DeqForward<T>& fwd, ConstBatchRef<T> x,
                      ConstVectorRef<T> theta, ConstBatchRef<T> z_bar,
                      DeqGradientResult<T>& result) {
  const DeqOptions& o = fwd.options;
  const double tol = o.adjoint_tol.value_or(o.tol);
  const Index max_steps = o.adjoint_max_steps.value_or(o.max_steps);
  Batch<T> g = z_bar, next(g.rows(), g.cols());
  // The fixed-point iterations need only J_fᵀ g; the Mlp's VJP also accumulates the θ and x
  // parts, into scratch that is thrown away.
  Vector<T> theta_scratch = Vector<T>::Zero(theta.size());
  Batch<T> x_scratch = Batch<T>::Zero(x.rows(), x.cols());
  DeqStats& stats = result.stats;
  for (Index k = 1; k <= max_steps; ++k) {
    layer.vjp(fwd.z, x, theta, g, next, x_scratch, theta_scratch);  // g_{k} = Jᵀ g_{k−1} + z̄
    ++stats.nvjp;
    next += z_bar;
    const auto rule = deq_detail::check_rule(next - g, next, tol);
    std::swap(g, next);
    stats.adjoint_iterations = k;
    stats.adjoint_residual = rule.relative;
    require(!std::isnan(rule.relative),
            "{} implicit adjoint: g became NaN or Inf at iteration {}; J_f at z* is probably not "
            "contractive (the forward residual is {:.3e})",
            layer.name(), k, fwd.stats.residual);
    if (rule.met) break;
  }
  layer.vjp(fwd.z, x, theta, g, next, result.grad_x, result.grad_params);
  ++stats.nvjp;
  stats.stored_floats = 3 * g.size() + x_scratch.size() + theta_scratch.size();  // + z_n
}

}  // namespace

template <class T>
DeqGradientResult<T> deq_backward(const DeqMap<T>& layer, const DeqForward<T>& forward,
                                  std::type_identity_t<ConstBatchRef<T>> x,
                                  std::type_identity_t<ConstVectorRef<T>> theta,
                                  std::type_identity_t<ConstBatchRef<T>> z_bar) {
  const Index dim = layer.state_dim(), batch = x.cols();
  require(x.rows() == layer.input_dim() && forward.z.rows() == dim && forward.z.cols() == batch,
          "{} backward: x is {}×{} and the forward's z {}×{}; expected x {}×batch and z {}×batch "
          "from deq_forward on the same x",
          layer.name(), x.rows(), x.cols(), forward.z.rows(), forward.z.cols(), layer.input_dim(),
          dim);
  require(theta.size() == layer.param_count(), "{} backward: theta has {} entries, expected {}",
          layer.name(), theta.size(), layer.param_count());
  require(z_bar.rows() == dim && z_bar.cols() == batch,
          "{} backward: z_bar is {}×{}, expected {}×{} (like z)", layer.name(), z_bar.rows(),
          z_bar.cols(), dim, batch);
  const DeqGradient method = forward.options.gradient;
  const Index n = forward.stats.iterations;
  const Index tape_blocks = forward.options.solver == FixedPointSolver::reversible ? 2 * n : n;
  require(method != DeqGradient::backprop || Index(forward.tape.size()) == tape_blocks,
          "{} backward: the forward holds {} stored iterates, expected {} for {} iterations",
          layer.name(), forward.tape.size(), tape_blocks, n);
  require(method != DeqGradient::reversible || forward.y.size() == forward.z.size(),
          "{} backward: the forward holds no y_n; run deq_forward with the reversible solver",
          layer.name());

  DeqGradientResult<T> result;
  result.grad_params = Vector<T>::Zero(theta.size());
  result.grad_x = Batch<T>::Zero(x.rows(), batch);
  result.stats = forward.stats;
  if (method == DeqGradient::implicit) {
    implicit_adjoint(layer, forward, x, theta, z_bar, result);
  } else {
    Walk<T> walk(layer, x, theta, forward.options.beta, z_bar, result);
    if (method == DeqGradient::reversible)
      reversible_walk(forward, walk);
    else
      backprop_walk(forward, walk);
  }
  result.stats.stored_floats += forward.z.size() + layer.workspace_floats(batch);
  return result;
}

template DeqGradientResult<float> deq_backward(const DeqMap<float>&, const DeqForward<float>&,
                                               ConstBatchRef<float>, ConstVectorRef<float>,
                                               ConstBatchRef<float>);
template DeqGradientResult<double> deq_backward(const DeqMap<double>&, const DeqForward<double>&,
                                                ConstBatchRef<double>, ConstVectorRef<double>,
                                                ConstBatchRef<double>);

}  // namespace revode
