/// ShARK for additive-noise SDEs (see shark.hpp).
#include "revode/sde/shark.hpp"

#include "revode/core/error.hpp"
#include "revode/sde/sde_steppers.hpp"

namespace revode {

LevyArea sde_solver_levy_area(std::string_view name) {
  return name == "shark" ? LevyArea::space_time : LevyArea::none;
}

template <class T>
SdeShark<T>::SdeShark(std::shared_ptr<const BrownianTree> brownian, NoiseType noise)
    : brownian_(std::move(brownian)) {
  require(brownian_ != nullptr, "an SDE solver needs a Brownian motion");
  require(noise == NoiseType::additive,
          "solver 'shark' (ShARK) is for additive noise only; the field has {} noise (use heun, "
          "midpoint, reversible-heun, ... for it)",
          noise_type_name(noise));
  require(brownian_->levy_area() == LevyArea::space_time,
          "solver 'shark' needs the space-time Lévy area: build its Brownian tree with "
          "LevyArea::space_time");
}

template <class T>
const SdeField<T>& SdeShark<T>::stages(const VectorField<T>& f, T t0, T t1,
                                       const ConstBatchRef<T>& y0,
                                       const ConstVectorRef<T>& theta) const {
  const SdeField<T>& sde = sde_field_or_throw(f, name());
  require(sde.noise_type() == NoiseType::additive,
          "solver 'shark' (ShARK) is for additive noise only; field '{}' has {} noise", sde.name(),
          noise_type_name(sde.noise_type()));
  require(sde.noise_dim() == brownian_->noise_dim(),
          "field '{}' has noise dimension {}, the Brownian motion {}", sde.name(), sde.noise_dim(),
          brownian_->noise_dim());
  require_forward_step(double(t0), double(t1), name());
  require_resolved_step(*brownian_, double(t0), double(t1), name());
  const Index batch = y0.cols(), d = y0.rows();
  const T h = t1 - t0;
  w64_.resize(brownian_->noise_dim(), batch);
  h64_.resize(brownian_->noise_dim(), batch);
  brownian_->increment_with_area(double(t0), double(t1), w64_, h64_);
  w_ = w64_.template cast<T>();
  h_ = h64_.template cast<T>();
  g_.resize(sde.diffusion_rows(), batch);
  sde.diffusion(t0, y0, theta, g_);
  require_finite_diffusion<T>(sde, t0, g_);
  gw_.resize(d, batch);
  z1_.resize(d, batch);
  apply_noise<T>(NoiseType::additive, g_, h_, z1_);  // G H
  z1_ += y0;
  k1_.resize(d, batch);
  f.eval(t0, z1_, theta, k1_);
  shifted_ = T(5) / T(6) * w_ + h_;
  z2_.resize(d, batch);
  apply_noise<T>(NoiseType::additive, g_, shifted_, z2_);
  z2_ += y0 + (T(5) / T(6) * h) * k1_;
  apply_noise<T>(NoiseType::additive, g_, w_, gw_);
  return sde;
}

template <class T>
void SdeShark<T>::step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                       const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T>, Batch<T>* error,
                       bool) const {
  stages(f, t0, t1, x0, theta);
  const T h = t1 - t0;
  k2_.resize(x0.rows(), x0.cols());
  f.eval(t0 + T(5) / T(6) * h, z2_, theta, k2_);
  x1 = x0 + h * (T(0.4) * k1_ + T(0.6) * k2_) + gw_;
  // y1 minus the embedded shifted Euler step y0 + h k1 + G W (diffrax's b_error; shark.hpp).
  if (error != nullptr) *error = (T(0.6) * h) * (k2_ - k1_);
}

template <class T>
void SdeShark<T>::step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                           const ConstVectorRef<T>& theta, const ConstBatchRef<T>&,
                           const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                           VectorRef<T> theta_bar) const {
  const SdeField<T>& sde = stages(f, t0, t1, x0, theta);
  const T h = t1 - t0;
  const Index d = x0.rows(), batch = x0.cols();
  // y1 = y0 + h (2/5 k1 + 3/5 k2) + G W, k2 = f(t0 + 5h/6, Z2).
  g_bar_.resize(sde.diffusion_rows(), batch);
  apply_noise_vjp<T>(NoiseType::additive, x1_bar, w_, g_bar_, false);
  k_bar_ = (T(0.6) * h) * x1_bar;
  z_bar_.resize(d, batch);
  f.vjp(t0 + T(5) / T(6) * h, z2_, theta, k_bar_, z_bar_, theta_bar);
  // Z2 = y0 + (5/6) h k1 + G (5/6 W + H), k1 = f(t0, Z1).
  x0_bar = x1_bar + z_bar_;
  apply_noise_vjp<T>(NoiseType::additive, z_bar_, shifted_, g_bar_, true);
  k_bar_ = (T(0.4) * h) * x1_bar + (T(5) / T(6) * h) * z_bar_;
  f.vjp(t0, z1_, theta, k_bar_, z_bar_, theta_bar);
  // Z1 = y0 + G H, G = g(t0) (its y-derivative is zero for additive noise, but a field may
  // still report one; it is added, not assumed away).
  x0_bar += z_bar_;
  apply_noise_vjp<T>(NoiseType::additive, z_bar_, h_, g_bar_, true);
  y_bar_.resize(d, batch);
  sde.diffusion_vjp(t0, x0, theta, g_bar_, y_bar_, theta_bar);
  x0_bar += y_bar_;
}

template class SdeShark<float>;
template class SdeShark<double>;

}  // namespace revode
