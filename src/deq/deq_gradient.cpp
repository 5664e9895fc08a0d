/// The three DEQ backward passes. Reversible and backprop share one transposed step and differ
/// only in where the iterates come from (rebuilt by the inverse vs read from the tape).
#include "revode/deq/deq_gradient.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
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

  Walk(const DeqMap<T>& l, const ConstBatchRef<T>& x_, const ConstVectorRef<T>& th, double b,
       const ConstBatchRef<T>& z_bar0, DeqGradientResult<T>& r)
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
  void add_vjp(const ConstBatchRef<T>& at, const Batch<T>& from, Batch<T>& into) {
    scaled = beta * from;
    layer.vjp(at, x, theta, scaled, vjp_out, result.grad_x, result.grad_params);
    ++result.stats.nvjp;
    into += vjp_out;
  }

  /// The transpose of step k → k+1, given y_{k+1} and z_k; (ȳ, z̄) go from k+1 to k.
  void step_back(const ConstBatchRef<T>& y_next, const ConstBatchRef<T>& z_k) {
    add_vjp(y_next, z_bar, y_bar);  // z_{k+1} = (1−β) z_k + β f(y_{k+1})
    z_bar *= T(1) - beta;
    add_vjp(z_k, y_bar, z_bar);  // y_{k+1} = (1−β) y_k + β f(z_k)
    y_bar *= T(1) - beta;
  }

  static constexpr Index kBlocks = 4;  // y_bar, z_bar, scaled, vjp_out
};

/// The reversible backward walk as the guard sees it (GuardedWalk): the state is [y; z]
/// (2·dim × batch), step k maps (y_k, z_k) to (y_{k+1}, z_{k+1}), the start is (0, 0).
template <class T>
class DeqReversal final : public GuardedWalk<T> {
 public:
  /// z_bar0: ∂L/∂z_n, the caller's (restart() goes back to it).
  DeqReversal(const DeqForward<T>& fwd, Walk<T>& walk, const ConstBatchRef<T>& z_bar0)
      : walk_(walk),
        beta_(walk.beta),
        keep_(T(1) - walk.beta),
        dim_(fwd.z.rows()),
        steps_(fwd.stats.iterations),
        scale_(std::max(double(fwd.z.cwiseAbs().maxCoeff()), 1e-300)),
        z_bar0_(z_bar0),
        f_(fwd.z.rows(), fwd.z.cols()) {
    x_.resize(2 * dim_, fwd.z.cols());
    x_.topRows(dim_) = fwd.y;
    x_.bottomRows(dim_) = fwd.z;
  }

  Index steps() const override { return steps_; }
  void advance(Index, Batch<T>& x) override {
    auto y = x.topRows(dim_), z = x.bottomRows(dim_);
    eval(z);
    y = keep_ * y + beta_ * f_;
    eval(y);
    z = keep_ * z + beta_ * f_;
  }
  void undo_by_inverse(Index) override {
    auto y = x_.topRows(dim_), z = x_.bottomRows(dim_);
    eval(y);  // f(y_{k+1})
    z = (z - beta_ * f_) / keep_;  // z_k
    walk_.add_vjp(y, walk_.z_bar, walk_.y_bar);
    walk_.z_bar *= keep_;
    eval(z);  // f(z_k)
    y = (y - beta_ * f_) / keep_;  // y_k
    walk_.add_vjp(z, walk_.y_bar, walk_.z_bar);
    walk_.y_bar *= keep_;
  }
  void undo_from(Index, const ConstBatchRef<T>& x_k) override {
    walk_.step_back(x_.topRows(dim_), x_k.bottomRows(dim_));  // needs y_{k+1} and z_k
    x_ = x_k;
  }
  Batch<T>& current() override { return x_; }
  void mark() override {
    mark_ = {walk_.y_bar, walk_.z_bar, walk_.result.grad_x, walk_.result.grad_params};
  }
  void rewind() override {
    walk_.y_bar = mark_.y_bar, walk_.z_bar = mark_.z_bar;
    walk_.result.grad_x = mark_.grad_x, walk_.result.grad_params = mark_.grad_params;
  }
  void restart() override {
    walk_.y_bar.setZero();
    walk_.z_bar = z_bar0_;
    walk_.result.grad_x.setZero();
    walk_.result.grad_params.setZero();
  }
  Index stored_floats() const override {
    return x_.size() + f_.size() + mark_.y_bar.size() + mark_.z_bar.size() +
           mark_.grad_x.size() + mark_.grad_params.size();
  }
  /// The start iterates are zero: drift is measured against ‖z_n‖∞, as reconstruction_error.
  double drift(const ConstBatchRef<T>& rebuilt, const ConstBatchRef<T>& truth) const override {
    if (!rebuilt.allFinite()) return std::numeric_limits<double>::infinity();
    return double((rebuilt - truth).cwiseAbs().maxCoeff()) /
           std::max(scale_, double(truth.cwiseAbs().maxCoeff()));
  }

 private:
  template <class Block>
  void eval(const Block& at) {
    walk_.layer.eval(at, walk_.x, walk_.theta, f_);
    ++walk_.result.stats.backward_nfe;
  }

  struct Snapshot {
    Batch<T> y_bar, z_bar, grad_x;
    Vector<T> grad_params;
  };
  Walk<T>& walk_;
  T beta_, keep_;
  Index dim_, steps_;
  double scale_;
  ConstBatchRef<T> z_bar0_;
  Batch<T> x_, f_;
  Snapshot mark_;
};

template <class T>
void reversible_walk(const DeqForward<T>& fwd, Walk<T>& walk, const ConstBatchRef<T>& z_bar) {
  DeqReversal<T> reversal(fwd, walk, z_bar);
  for (Index k = fwd.stats.iterations; k-- > 0;) reversal.undo_by_inverse(k);
  DeqStats& stats = walk.result.stats;
  const Batch<T> start = Batch<T>::Zero(reversal.current().rows(), reversal.current().cols());
  const double drift = reversal.drift(reversal.current(), start);
  stats.reconstruction_error = drift;
  stats.stored_floats = (Walk<T>::kBlocks + 3) * fwd.z.size();  // + y, z, f
  const ReversibleGuard& guard = fwd.options.guard;
  const double tolerance = guard.tolerance_for<T>();
  if (guard_accepts(guard.policy, tolerance, double(std::numeric_limits<T>::epsilon()), drift,
                    fwd.stats.iterations,
                    fmt::format("reversible DEQ backward over {} iterations (β = {})",
                                fwd.stats.iterations, fwd.options.beta),
                    "Use fewer iterations (max_steps) or a larger tol, float64, β nearer 0.5, "
                    "or gradient backprop.",
                    stats.guard))
    return;
  const Index held = guard_repair<T>(reversal, start, tolerance,
                                     double(std::numeric_limits<T>::epsilon()), drift, stats.guard);
  stats.reconstruction_error = stats.guard.gradient_error_bound;
  stats.stored_floats = std::max(stats.stored_floats, Walk<T>::kBlocks * fwd.z.size() + held);
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
void implicit_adjoint(const DeqMap<T>& layer, const DeqForward<T>& fwd, const ConstBatchRef<T>& x,
                      const ConstVectorRef<T>& theta, const ConstBatchRef<T>& z_bar,
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
                                  const std::type_identity_t<ConstBatchRef<T>>& x,
                                  const std::type_identity_t<ConstVectorRef<T>>& theta,
                                  const std::type_identity_t<ConstBatchRef<T>>& z_bar) {
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
      reversible_walk(forward, walk, z_bar);
    else
      backprop_walk(forward, walk);
  }
  result.stats.stored_floats += forward.z.size() + layer.workspace_floats(batch);
  return result;
}

template DeqGradientResult<float> deq_backward(const DeqMap<float>&, const DeqForward<float>&,
                                               const ConstBatchRef<float>&,
                                               const ConstVectorRef<float>&,
                                               const ConstBatchRef<float>&);
template DeqGradientResult<double> deq_backward(const DeqMap<double>&, const DeqForward<double>&,
                                                const ConstBatchRef<double>&,
                                                const ConstVectorRef<double>&,
                                                const ConstBatchRef<double>&);

}  // namespace revode
