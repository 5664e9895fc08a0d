/// DeqLayer: f(z, x) = Mlp([z; x]) with its VJP split into the z and x parts, the Lipschitz
/// bound and the contractive initialiser.
#include "revode/deq/deq_layer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <Eigen/SVD>
#include <algorithm>

#include "revode/core/error.hpp"

namespace revode {
namespace {

MlpSpec mlp_spec(const DeqSpec& spec) {
  validate(spec);
  MlpSpec m;
  m.widths.push_back(spec.state_dim + spec.input_dim);
  m.widths.insert(m.widths.end(), spec.hidden.begin(), spec.hidden.end());
  m.widths.push_back(spec.state_dim);
  m.activation = spec.activation;
  m.rectangular = true;
  return m;
}

/// sup_x |σ'(x)|: 1 for tanh, relu, softplus, elu (α = 1) and identity; ¼ for the sigmoid;
/// 1.0998 for silu (σ'(x) = s(x)(1 + x(1 − s(x))) peaks at x ≈ 2.3994).
double derivative_bound(Activation activation) {
  switch (activation) {
    case Activation::sigmoid:
      return 0.25;
    case Activation::silu:
      return 1.0998;
    default:
      return 1.0;
  }
}

double spectral_norm(const Eigen::MatrixXd& m) {
  return Eigen::JacobiSVD<Eigen::MatrixXd>(m).singularValues()(0);
}

}  // namespace

void validate(const DeqSpec& spec) {
  require(spec.state_dim > 0, "DeqSpec::state_dim = {}; required: state_dim > 0", spec.state_dim);
  require(spec.input_dim > 0, "DeqSpec::input_dim = {}; required: input_dim > 0", spec.input_dim);
  // The MLP's first width is state_dim + input_dim: bound both before adding (MLP widths are
  // at most 2^20; the MLP's own check then names the limit).
  constexpr Index most = Index{1} << 40;
  require(spec.state_dim <= most && spec.input_dim <= most,
          "DeqSpec: state_dim {} and input_dim {}; required: at most 2^40 each (MLP widths are "
          "at most 2^20)",
          spec.state_dim, spec.input_dim);
  for (std::size_t i = 0; i < spec.hidden.size(); ++i)
    require(spec.hidden[i] > 0, "DeqSpec::hidden [{}]: width {} is {}; required: > 0",
            fmt::join(spec.hidden, ","), i, spec.hidden[i]);
}

template <class T>
DeqLayer<T>::DeqLayer(DeqSpec spec) : spec_(std::move(spec)), mlp_(mlp_spec(spec_)) {}

template <class T>
std::string DeqLayer<T>::name() const {
  return fmt::format("deq:{},{}:{} {}", spec_.state_dim, spec_.input_dim,
                     fmt::join(spec_.hidden, ","), activation_name(spec_.activation));
}

template <class T>
void DeqLayer<T>::check(const char* what, Index z_rows, Index x_rows, Index z_cols, Index x_cols,
                        Index theta_size) const {
  if (z_rows != spec_.state_dim || x_rows != spec_.input_dim || z_cols != x_cols)
    throw Error(fmt::format("{} {}: got z {}×{} and x {}×{}; expected z {}×batch and x {}×batch",
                            name(), what, z_rows, z_cols, x_rows, x_cols, spec_.state_dim,
                            spec_.input_dim));
  if (theta_size != param_count())
    throw Error(fmt::format("{} {}: theta has {} entries, expected {}", name(), what, theta_size,
                            param_count()));
}

template <class T>
void DeqLayer<T>::stack(const ConstBatchRef<T>& z, const ConstBatchRef<T>& x) const {
  stacked_.resize(spec_.state_dim + spec_.input_dim, z.cols());
  stacked_.topRows(spec_.state_dim) = z;
  stacked_.bottomRows(spec_.input_dim) = x;
}

template <class T>
void DeqLayer<T>::eval(const ConstBatchRef<T>& z, const ConstBatchRef<T>& x,
                       const ConstVectorRef<T>& theta, BatchRef<T> out) const {
  check("eval", z.rows(), x.rows(), z.cols(), x.cols(), theta.size());
  if (out.rows() != spec_.state_dim || out.cols() != z.cols())
    throw Error(fmt::format("{} eval: out is {}×{}, expected {}×{}", name(), out.rows(), out.cols(),
                            spec_.state_dim, z.cols()));
  stack(z, x);
  mlp_.eval(T(0), stacked_, theta, out);
}

template <class T>
void DeqLayer<T>::vjp(const ConstBatchRef<T>& z, const ConstBatchRef<T>& x,
                      const ConstVectorRef<T>& theta, const ConstBatchRef<T>& a, BatchRef<T> z_bar,
                      BatchRef<T> x_bar, VectorRef<T> theta_bar) const {
  check("vjp", z.rows(), x.rows(), z.cols(), x.cols(), theta.size());
  const bool shapes_ok = a.rows() == z.rows() && a.cols() == z.cols() && z_bar.rows() == z.rows() &&
                         z_bar.cols() == z.cols() && x_bar.rows() == x.rows() &&
                         x_bar.cols() == x.cols();
  if (!shapes_ok || theta_bar.size() != param_count())
    throw Error(fmt::format(
        "{} vjp: got a {}×{}, z_bar {}×{}, x_bar {}×{}, theta_bar {}; expected a, z_bar like z "
        "({}×{}), x_bar like x ({}×{}) and theta_bar {}",
        name(), a.rows(), a.cols(), z_bar.rows(), z_bar.cols(), x_bar.rows(), x_bar.cols(),
        theta_bar.size(), z.rows(), z.cols(), x.rows(), x.cols(), param_count()));
  stack(z, x);
  stacked_bar_.resize(stacked_.rows(), stacked_.cols());
  mlp_.vjp(T(0), stacked_, theta, a, stacked_bar_, theta_bar);
  z_bar = stacked_bar_.topRows(spec_.state_dim);
  x_bar += stacked_bar_.bottomRows(spec_.input_dim);
}

template <class T>
Index DeqLayer<T>::workspace_floats(Index batch) const {
  return 2 * (spec_.state_dim + spec_.input_dim) * batch + mlp_.intermediate_floats(batch);
}

template <class T>
double DeqLayer<T>::bound_of(const double* theta) const {
  const auto& layers = mlp_.layers();
  const auto weight = [&](const LayerShape& s) {
    return Eigen::Map<const Eigen::MatrixXd>(theta + s.weight_offset, s.outputs, s.inputs);
  };
  double bound = spectral_norm(weight(layers.front()).leftCols(spec_.state_dim));
  for (std::size_t l = 1; l < layers.size(); ++l)
    bound *= spectral_norm(weight(layers[l])) * derivative_bound(spec_.activation);
  return bound;
}

template <class T>
double DeqLayer<T>::lipschitz_bound(const ConstVectorRef<T>& theta) const {
  require(theta.size() == param_count(), "{} lipschitz_bound: theta has {} entries, expected {}",
          name(), theta.size(), param_count());
  const Vector<double> th = theta.template cast<double>();
  return bound_of(th.data());
}

template <class T>
double DeqLayer<T>::limit_lipschitz(VectorRef<double> theta, double gamma) const {
  require(theta.size() == param_count(), "{} limit_lipschitz: theta has {} entries, expected {}",
          name(), theta.size(), param_count());
  require(gamma > 0 && gamma < 1, "DeqLayer: contraction = {}; required: 0 < contraction < 1",
          gamma);
  const double bound = bound_of(theta.data());
  if (bound > gamma) {
    // The bound is linear in W_z, so one rescaling lands on γ; 1 − 1e-6 absorbs the rounding
    // of float weights.
    const LayerShape& first = mlp_.layers().front();
    theta.segment(first.weight_offset, first.outputs * spec_.state_dim) *=
        gamma / bound * (1 - 1e-6);
  }
  return bound;
}

template <class T>
Vector<T> DeqLayer<T>::init_params(Init init, std::uint64_t seed,
                                   std::optional<double> contraction) const {
  Vector<T> theta = mlp_.init_params(init, seed);
  if (!contraction) return theta;
  Vector<double> th = theta.template cast<double>();
  limit_lipschitz(th, *contraction);
  return th.template cast<T>();
}

template class DeqLayer<float>;
template class DeqLayer<double>;

}  // namespace revode
