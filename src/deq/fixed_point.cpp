/// The plain and reversible fixed-point iterations, option validation and names.
/// Each iteration evaluates f(z_n) once: it is both the stopping test's f(z_n) and the input
/// of the next update, so the test costs no extra evaluation.
#include "revode/deq/fixed_point.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <utility>

#include "revode/core/error.hpp"
#include "stopping_rule.hpp"

namespace revode {
namespace {

constexpr std::array kSolvers{FixedPointSolver::plain, FixedPointSolver::reversible};
constexpr std::array kGradients{DeqGradient::reversible, DeqGradient::implicit,
                                DeqGradient::backprop};

template <class E, std::size_t N, class NameOf>
E parse_name(std::string_view name, const std::array<E, N>& all, NameOf name_of,
             std::string_view what) {
  std::string known;
  for (const E e : all) {
    if (name_of(e) == name) return e;
    known.append(known.empty() ? "" : ", ").append(name_of(e));
  }
  throw Error(fmt::format("unknown {} '{}' (known: {})", what, name, known));
}

}  // namespace

std::string_view solver_name(FixedPointSolver solver) {
  return solver == FixedPointSolver::plain ? "plain" : "reversible";
}

std::string_view gradient_name(DeqGradient gradient) {
  switch (gradient) {
    case DeqGradient::reversible:
      return "reversible";
    case DeqGradient::implicit:
      return "implicit";
    case DeqGradient::backprop:
      return "backprop";
  }
  return "unknown";
}

FixedPointSolver parse_fixed_point_solver(std::string_view name) {
  return parse_name(name, kSolvers, solver_name, "fixed-point solver");
}

DeqGradient parse_deq_gradient(std::string_view name) {
  return parse_name(name, kGradients, gradient_name, "DEQ gradient method");
}

void validate(const DeqOptions& o) {
  require(o.beta > 0 && o.beta < 2,
          "DeqOptions::beta = {}; required: 0 < beta < 2 (the reversible iteration's relaxation)",
          o.beta);
  require(o.beta != 1,
          "DeqOptions::beta = 1; required: beta != 1 (at beta = 1 the update forgets y_n and z_n, "
          "so the reversible iteration has no inverse; try 0.5 or 0.8)");
  require(std::isfinite(o.tol) && o.tol >= 0, "DeqOptions::tol = {}; required: finite, >= 0",
          o.tol);
  require(o.max_steps >= 1, "DeqOptions::max_steps = {}; required: max_steps >= 1", o.max_steps);
  require(!o.adjoint_tol || (std::isfinite(*o.adjoint_tol) && *o.adjoint_tol >= 0),
          "DeqOptions::adjoint_tol = {}; required: finite, >= 0", o.adjoint_tol.value_or(0));
  require(!o.adjoint_max_steps || *o.adjoint_max_steps >= 1,
          "DeqOptions::adjoint_max_steps = {}; required: adjoint_max_steps >= 1",
          o.adjoint_max_steps.value_or(0));
  o.guard.validate();
  require(o.gradient != DeqGradient::reversible || o.solver == FixedPointSolver::reversible,
          "DeqOptions: gradient 'reversible' needs solver 'reversible' (the plain iteration "
          "z <- f(z) cannot be inverted); use gradient 'implicit' or 'backprop' with 'plain'");
}

std::string DeqStats::brief() const {
  std::string out = fmt::format(
      "iterations {} ({}), residual {:.3e}, nfe {} + {} backward, nvjp {}, stored_floats {}",
      iterations, converged ? "converged" : "max_steps", residual, nfe, backward_nfe, nvjp,
      stored_floats);
  if (adjoint_iterations > 0)
    out += fmt::format(", adjoint iterations {} (residual {:.3e})", adjoint_iterations,
                       adjoint_residual);
  if (reconstruction_error > 0)
    out += fmt::format(", reconstruction_error {:.2e}", reconstruction_error);
  if (guard.repaired)
    out += fmt::format(", guard repaired a drift of {:.2e} with {} anchors", guard.drift,
                       guard.anchors);
  else if (guard.flagged)
    out += fmt::format(", guard flagged a drift of {:.2e}", guard.drift);
  return out;
}

template <class T>
DeqForward<T> deq_forward(const DeqMap<T>& layer, const std::type_identity_t<ConstBatchRef<T>>& x,
                          const std::type_identity_t<ConstVectorRef<T>>& theta,
                          const DeqOptions& options) {
  validate(options);
  require(x.rows() == layer.input_dim() && x.cols() >= 1,
          "{} forward: x is {}×{}, expected {}×batch with batch >= 1", layer.name(), x.rows(),
          x.cols(), layer.input_dim());
  require(theta.size() == layer.param_count(), "{} forward: theta has {} entries, expected {}",
          layer.name(), theta.size(), layer.param_count());
  const bool reversible = options.solver == FixedPointSolver::reversible;
  const bool record = options.gradient == DeqGradient::backprop;
  const T beta = T(options.beta), keep = T(1) - T(options.beta);
  const Index dim = layer.state_dim(), batch = x.cols();

  DeqForward<T> out;
  out.options = options;
  out.z = Batch<T>::Zero(dim, batch);
  if (reversible) out.y = Batch<T>::Zero(dim, batch);
  Batch<T> f(dim, batch);
  DeqStats& stats = out.stats;
  for (Index n = 0;; ++n) {
    layer.eval(out.z, x, theta, f);
    ++stats.nfe;
    const auto rule = deq_detail::check_rule(out.z - f, f, options.tol);
    if (std::isnan(rule.relative))
      throw Error(fmt::format(
          "{} forward ({} solver, beta {}): the iterate became NaN or Inf at iteration {}; f is "
          "probably not contractive (see DeqLayer::init_params' contraction) or beta too large",
          layer.name(), solver_name(options.solver), options.beta, n));
    stats.iterations = n;
    stats.residual = rule.relative;
    stats.converged = rule.met;
    if (rule.met || n == options.max_steps) break;
    if (record) out.tape.push_back(out.z);
    if (!reversible) {
      std::swap(out.z, f);  // z_{n+1} = f(z_n)
      continue;
    }
    out.y = keep * out.y + beta * f;  // y_{n+1} = (1−β) y_n + β f(z_n)
    layer.eval(out.y, x, theta, f);
    ++stats.nfe;
    if (record) out.tape.push_back(out.y);
    out.z = keep * out.z + beta * f;  // z_{n+1} = (1−β) z_n + β f(y_{n+1})
  }
  const Index blocks = (reversible ? 3 : 2) + Index(out.tape.size());
  stats.stored_floats = blocks * dim * batch + layer.workspace_floats(batch);
  return out;
}

template DeqForward<float> deq_forward(const DeqMap<float>&, const ConstBatchRef<float>&,
                                       const ConstVectorRef<float>&, const DeqOptions&);
template DeqForward<double> deq_forward(const DeqMap<double>&, const ConstBatchRef<double>&,
                                        const ConstVectorRef<double>&, const DeqOptions&);

}  // namespace revode
