/// Noise types and the action of g on dW (see sde_field.hpp).
#include "revode/sde/sde_field.hpp"

#include "revode/core/error.hpp"

namespace revode {

std::string_view noise_type_name(NoiseType type) {
  switch (type) {
    case NoiseType::diagonal:
      return "diagonal";
    case NoiseType::scalar:
      return "scalar";
    case NoiseType::additive:
      return "additive";
    case NoiseType::general:
      return "general";
  }
  return "?";
}

NoiseType parse_noise_type(std::string_view name) {
  for (NoiseType t :
       {NoiseType::diagonal, NoiseType::scalar, NoiseType::additive, NoiseType::general})
    if (name == noise_type_name(t)) return t;
  throw Error(fmt::format("noise type '{}': expected diagonal, scalar, additive or general", name));
}

Index diffusion_rows(NoiseType type, Index state_dim, Index noise_dim) {
  return type == NoiseType::diagonal || type == NoiseType::scalar ? state_dim
                                                                  : state_dim * noise_dim;
}

template <class T>
void apply_noise(NoiseType type, const ConstBatchRef<T>& g, const ConstBatchRef<T>& dw,
                 BatchRef<T> out) {
  const Index d = out.rows();
  switch (type) {
    case NoiseType::diagonal:
      out = (g.array() * dw.array()).matrix();
      return;
    case NoiseType::scalar:
      out = (g.array().rowwise() * dw.row(0).array()).matrix();
      return;
    case NoiseType::additive:
    case NoiseType::general:
      for (Index c = 0; c < out.cols(); ++c)
        out.col(c).noalias() = Eigen::Map<const Batch<T>, 0, Eigen::OuterStride<>>(
                                   g.col(c).data(), d, dw.rows(), Eigen::OuterStride<>(d)) *
                               dw.col(c);
      return;
  }
}

template <class T>
void apply_noise_vjp(NoiseType type, const ConstBatchRef<T>& a, const ConstBatchRef<T>& dw,
                     BatchRef<T> g_bar, bool accumulate) {
  const Index d = a.rows();
  if (!accumulate) g_bar.setZero();
  switch (type) {
    case NoiseType::diagonal:
      g_bar.array() += a.array() * dw.array();
      return;
    case NoiseType::scalar:
      g_bar.array() += a.array().rowwise() * dw.row(0).array();
      return;
    case NoiseType::additive:
    case NoiseType::general:
      for (Index c = 0; c < a.cols(); ++c)
        Eigen::Map<Batch<T>, 0, Eigen::OuterStride<>>(g_bar.col(c).data(), d, dw.rows(),
                                                      Eigen::OuterStride<>(d))
            .noalias() += a.col(c) * dw.col(c).transpose();
      return;
  }
}

template <class T>
void require_finite_diffusion(const SdeField<T>& field, T t, const ConstBatchRef<T>& g) {
  if (g.allFinite()) return;
  for (Index c = 0; c < g.cols(); ++c)
    for (Index i = 0; i < g.rows(); ++i)
      require(std::isfinite(g(i, c)),
              "diffusion g(t = {}, y) of '{}' is not finite: entry {} of sample {} is {}",
              double(t), field.name(), i, c, double(g(i, c)));
}

#define REVODE_INSTANTIATE(T)                                                                   \
  template void apply_noise<T>(NoiseType, const ConstBatchRef<T>&, const ConstBatchRef<T>&,     \
                               BatchRef<T>);                                                    \
  template void apply_noise_vjp<T>(NoiseType, const ConstBatchRef<T>&, const ConstBatchRef<T>&, \
                                   BatchRef<T>, bool);                                          \
  template void require_finite_diffusion<T>(const SdeField<T>&, T, const ConstBatchRef<T>&);
REVODE_INSTANTIATE(float)
REVODE_INSTANTIATE(double)
#undef REVODE_INSTANTIATE

}  // namespace revode
