// The neural CDE field z' = F_θ(z) X'(t) and its VJP (derivation in docs/cde.md).
#include "revode/cde/cde_field.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "revode/core/error.hpp"

namespace revode {
namespace {

MlpSpec network_spec(const CdeSpec& s, Index channels) {
  require(s.hidden >= 1, "CDE hidden size {}; expected >= 1", s.hidden);
  require(channels >= 1, "CDE channels {}; expected >= 1", channels);
  MlpSpec m;
  m.widths.push_back(s.hidden);
  m.widths.insert(m.widths.end(), s.hidden_widths.begin(), s.hidden_widths.end());
  m.widths.push_back(s.hidden * channels);
  m.activation = s.activation;
  m.rectangular = true;
  return m;
}

}  // namespace

template <class T>
CdeField<T>::CdeField(CdeSpec spec, ControlPath path, Index channels, Index batch)
    : spec_(std::move(spec)),
      path_(std::move(path)),
      channels_(channels),
      batch_(batch),
      network_(network_spec(spec_, channels)) {
  require(batch_ >= 1, "CDE batch {}; expected >= 1", batch_);
}

template <class T>
std::string CdeField<T>::name() const {
  return fmt::format("cde:hidden={},channels={},knots={},batch={} {} f={}{}", spec_.hidden,
                     channels_, path_.knots(), batch_, interpolation_name(path_.scheme()),
                     network_.name(), spec_.tanh_output ? " tanh-output" : "");
}

template <class T>
void CdeField<T>::check_shapes(Index rows, Index cols, Index theta_size) const {
  require(rows == spec_.hidden, "CDE state has {} rows; expected the hidden size {}", rows,
          spec_.hidden);
  require(cols == batch_,
          "CDE state has {} columns; expected the batch {} the field's observations were given "
          "for (column b is driven by sample b's path)",
          cols, batch_);
  require(theta_size == param_count(),
          "CDE θ has {} entries; expected {} (network {} + observations {})", theta_size,
          param_count(), network_.param_count(), observation_count());
}

template <class T>
void CdeField<T>::evaluate_parts(T t, const ConstBatchRef<T>& y,
                                 const ConstVectorRef<T>& theta) const {
  const Index p = network_.param_count(), knots = path_.knots();
  path_.derivative_weights(double(t), weights_);
  weights_t_ = weights_.cast<T>();
  const auto [lo, hi] = path_.support(double(t));
  const Index n = hi - lo + 1;
  xdot_.resize(channels_, batch_);
  for (Index b = 0; b < batch_; ++b) {
    const Eigen::Map<const Batch<T>> x(theta.data() + p + channels_ * knots * b, channels_, knots);
    xdot_.col(b).noalias() = x.middleCols(lo, n) * weights_t_.segment(lo, n);
  }
  out_.resize(spec_.hidden * channels_, batch_);
  network_.eval(t, y, theta.head(p), out_);
  if (spec_.tanh_output) out_ = out_.array().tanh();
}

template <class T>
void CdeField<T>::eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                       BatchRef<T> dy) const {
  check_shapes(y.rows(), y.cols(), theta.size());
  evaluate_parts(t, y, theta);
  for (Index b = 0; b < batch_; ++b) {
    const Eigen::Map<const Batch<T>> f(out_.col(b).data(), spec_.hidden, channels_);
    dy.col(b).noalias() = f * xdot_.col(b);
  }
}

template <class T>
void CdeField<T>::vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                      const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const {
  check_shapes(y.rows(), y.cols(), theta.size());
  require(theta_bar.size() == param_count(), "CDE θ̄ has {} entries; expected {}", theta_bar.size(),
          param_count());
  evaluate_parts(t, y, theta);
  const Index p = network_.param_count(), knots = path_.knots();
  const auto [lo, hi] = path_.support(double(t));
  const Index n = hi - lo + 1;
  out_bar_.resize(spec_.hidden * channels_, batch_);
  xdot_bar_.resize(channels_, batch_);
  for (Index b = 0; b < batch_; ++b) {
    const Eigen::Map<const Batch<T>> f(out_.col(b).data(), spec_.hidden, channels_);
    // z' = F X': X̄' = Fᵀ a feeds the observations through w(t); F̄ = a X'ᵀ feeds the network.
    auto xdot_bar = xdot_bar_.col(b);
    xdot_bar.noalias() = f.transpose() * a.col(b);
    Eigen::Map<Batch<T>> x_bar(theta_bar.data() + p + channels_ * knots * b, channels_, knots);
    x_bar.middleCols(lo, n).noalias() += xdot_bar * weights_t_.segment(lo, n).transpose();
    Eigen::Map<Batch<T>> f_bar(out_bar_.col(b).data(), spec_.hidden, channels_);
    f_bar.noalias() = a.col(b) * xdot_.col(b).transpose();
  }
  if (spec_.tanh_output) out_bar_.array() *= T(1) - out_.array().square();
  network_.vjp(t, y, theta.head(p), out_bar_, y_bar, theta_bar.head(p));
}

template <class T>
Index CdeField<T>::intermediate_floats(Index batch) const {
  return network_.intermediate_floats(batch) + (spec_.hidden + 1) * channels_ * batch;
}

template <class T>
std::unique_ptr<VectorField<T>> CdeField<T>::clone() const {
  return std::make_unique<CdeField<T>>(spec_, path_, channels_, batch_);
}

template <class T>
Vector<T> CdeField<T>::init_params(Init init, std::uint64_t seed,
                                   const ConstVectorRef<double>& observations) const {
  require(observations.size() == observation_count(),
          "CDE observations have {} values; expected channels × knots × batch = {} × {} × {} = {}",
          observations.size(), channels_, path_.knots(), batch_, observation_count());
  Vector<T> theta(param_count());
  theta.head(network_.param_count()) = network_.init_params(init, seed);
  theta.tail(observation_count()) = observations.cast<T>();
  return theta;
}

template class CdeField<float>;
template class CdeField<double>;

}  // namespace revode
