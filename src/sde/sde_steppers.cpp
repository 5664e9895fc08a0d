/// The SDE steppers (see sde_steppers.hpp).
#include "revode/sde/sde_steppers.hpp"

#include <cmath>

#include "revode/core/counting_field.hpp"
#include "revode/core/error.hpp"
#include "revode/sde/shark.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/step_too_short.hpp"
#include "revode/solvers/tableaux/registry.hpp"

namespace revode {

template <class T>
const SdeField<T>& sde_field_or_throw(const VectorField<T>& f, std::string_view solver) {
  const auto* sde = dynamic_cast<const SdeField<T>*>(&f);
  // Solvers and gradient methods count evaluations through a CountingField around the field.
  if (const auto* counted = dynamic_cast<const CountingField<T>*>(&f); counted != nullptr)
    return sde_field_or_throw(counted->inner(), solver);
  require(sde != nullptr,
          "solver '{}' is an SDE solver, but field '{}' has no diffusion (build an SdeField, "
          "e.g. with --diffusion)",
          solver, f.name());
  return *sde;
}

// ---- FrozenNoiseField -------------------------------------------------------------------

template <class T>
void FrozenNoiseField<T>::eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                               BatchRef<T> dy) const {
  drift_->eval(t, y, theta, dy);
  g_.resize(field_->diffusion_rows(), y.cols());
  field_->diffusion(t, y, theta, g_);
  if (check_finite_) require_finite_diffusion<T>(*field_, t, g_);
  g_dw_.resize(y.rows(), y.cols());
  apply_noise<T>(field_->noise_type(), g_, rate_, g_dw_);
  dy += g_dw_;
}

template <class T>
void FrozenNoiseField<T>::vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                              const ConstBatchRef<T>& a, BatchRef<T> y_bar,
                              VectorRef<T> theta_bar) const {
  // The diffusion's VJP first: y_bar may alias y (VectorField's contract allows it), and the
  // drift's VJP overwrites y_bar.
  g_bar_.resize(field_->diffusion_rows(), y.cols());
  apply_noise_vjp<T>(field_->noise_type(), a, rate_, g_bar_, false);
  y_bar_.resize(y.rows(), y.cols());
  field_->diffusion_vjp(t, y, theta, g_bar_, y_bar_, theta_bar);
  drift_->vjp(t, y, theta, a, y_bar, theta_bar);
  y_bar += y_bar_;
}

template <class T>
std::unique_ptr<VectorField<T>> FrozenNoiseField<T>::clone() const {
  auto copy = std::make_unique<FrozenNoiseField<T>>();
  copy->field_ = field_;
  copy->drift_ = drift_;
  copy->rate_ = rate_;
  copy->check_finite_ = check_finite_;
  return copy;
}

bool sde_error_estimate(const ButcherTableau& tableau) {
  if (!tableau.has_embedded() || tableau.b_hat[0] != 1.0) return false;
  for (int i = 1; i < tableau.stages; ++i)
    if (tableau.b_hat[i] != 0.0) return false;
  return true;
}

void require_resolved_step(const BrownianTree& brownian, double t0, double t1,
                           std::string_view solver) {
  const double delta = std::ldexp(brownian.t1() - brownian.t0(), -brownian.levels());
  if (t1 - t0 >= kMinStepInTreeIntervals * delta) return;
  throw StepTooShortError(fmt::format(
      "{}: SDE step dt = {} at t = {} is below what the Brownian tree resolves (2^10 of its "
      "finest interval {}, below which W is interpolated linearly); required: dt >= {}; "
      "adaptive steps: loosen rtol/atol; fixed steps: take fewer",
      solver, t1 - t0, t0, delta, kMinStepInTreeIntervals * delta));
}

void require_forward_step(double t0, double t1, std::string_view solver) {
  // Equal ends: the grid's times were distinct in double, the scalar type rounded them together
  // (an SDE step cannot be empty: F = f + g ΔW/h would be 0/0).
  require(t1 != t0,
          "{}: an SDE step of zero length at t = {}: two step ends that the solver's scalar type "
          "does not tell apart (e.g. a save time within float32's resolution of a step's end); "
          "move the save time, or use float64",
          solver, t0);
  require(t1 > t0, "{}: SDE steps go forward in time; dt = {} at t = {}, required: > 0", solver,
          t1 - t0, t0);
}

// ---- NoiseFreezer -----------------------------------------------------------------------

template <class T>
NoiseFreezer<T>::NoiseFreezer(std::shared_ptr<const BrownianTree> brownian)
    : brownian_(std::move(brownian)) {
  require(brownian_ != nullptr, "an SDE solver needs a Brownian motion");
}

template <class T>
const VectorField<T>& NoiseFreezer<T>::freeze(const VectorField<T>& f, T t0, T t1, Index batch,
                                              std::string_view solver, bool forward) const {
  const SdeField<T>& sde = sde_field_or_throw(f, solver);
  require(sde.noise_dim() == brownian_->noise_dim(),
          "field '{}' has noise dimension {}, the Brownian motion {}", sde.name(), sde.noise_dim(),
          brownian_->noise_dim());
  require_forward_step(double(t0), double(t1), solver);
  require_resolved_step(*brownian_, double(t0), double(t1), solver);
  dw_.resize(brownian_->noise_dim(), batch);
  brownian_->increment(double(t0), double(t1), dw_);
  frozen_.bind(f, sde, forward);
  frozen_.rate() = (dw_ / (double(t1) - double(t0))).template cast<T>();
  return frozen_;
}

// ---- SdeStepper -------------------------------------------------------------------------

template <class T>
SdeStepper<T>::SdeStepper(std::unique_ptr<Stepper<T>> base,
                          std::shared_ptr<const BrownianTree> brownian, bool estimate)
    : base_(std::move(base)), noise_(std::move(brownian)), estimate_(estimate) {}

template <class T>
void SdeStepper<T>::initialize(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                               const ConstVectorRef<T>& theta, BatchRef<T> x0) const {
  base_->initialize(f, t0, y0, theta, x0);
}

template <class T>
void SdeStepper<T>::initialize_vjp(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                                   const ConstVectorRef<T>& theta, const ConstBatchRef<T>& x0_bar,
                                   BatchRef<T> y0_bar, VectorRef<T> theta_bar) const {
  base_->initialize_vjp(f, t0, y0, theta, x0_bar, y0_bar, theta_bar);
}

template <class T>
void SdeStepper<T>::step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                         const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape,
                         Batch<T>* error, bool) const {
  const VectorField<T>& frozen = noise_.freeze(f, t0, t1, x0.cols(), name(), true);
  // The embedded estimate on F; never FSAL (first_stage_ready is false): F(t1, y1) of this
  // step carries this step's ΔW, not the next one's.
  const bool estimate = error != nullptr && estimate_;
  base_->step(frozen, t0, t1, x0, theta, x1, tape, estimate ? error : nullptr, false);
  if (error != nullptr && !estimate) error->setZero(f.state_dim(), x0.cols());
}

template <class T>
void SdeStepper<T>::step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                             const ConstVectorRef<T>& theta, const ConstBatchRef<T>& tape,
                             const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                             VectorRef<T> theta_bar) const {
  const VectorField<T>& frozen = noise_.freeze(f, t0, t1, x0.cols(), name(), false);
  base_->step_vjp(frozen, t0, t1, x0, theta, tape, x1_bar, x0_bar, theta_bar);
}

// ---- ReversibleSdeStepper ---------------------------------------------------------------

template <class T>
ReversibleSdeStepper<T>::ReversibleSdeStepper(std::unique_ptr<ReversibleStepper<T>> base,
                                              std::shared_ptr<const BrownianTree> brownian,
                                              bool estimate)
    : base_(std::move(base)), noise_(std::move(brownian)), estimate_(estimate) {}

template <class T>
void ReversibleSdeStepper<T>::initialize(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                                         const ConstVectorRef<T>& theta, BatchRef<T> x0) const {
  base_->initialize(f, t0, y0, theta, x0);
}

template <class T>
void ReversibleSdeStepper<T>::initialize_vjp(const VectorField<T>& f, T t0,
                                             const ConstBatchRef<T>& y0,
                                             const ConstVectorRef<T>& theta,
                                             const ConstBatchRef<T>& x0_bar, BatchRef<T> y0_bar,
                                             VectorRef<T> theta_bar) const {
  base_->initialize_vjp(f, t0, y0, theta, x0_bar, y0_bar, theta_bar);
}

template <class T>
void ReversibleSdeStepper<T>::step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                                   const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape,
                                   Batch<T>* error, bool) const {
  const VectorField<T>& frozen = noise_.freeze(f, t0, t1, x0.cols(), name(), true);
  // The embedded estimate on F; never FSAL (first_stage_ready is false): F(t1, y1) of this
  // step carries this step's ΔW, not the next one's.
  const bool estimate = error != nullptr && estimate_;
  base_->step(frozen, t0, t1, x0, theta, x1, tape, estimate ? error : nullptr, false);
  if (error != nullptr && !estimate) error->setZero(f.state_dim(), x0.cols());
}

template <class T>
void ReversibleSdeStepper<T>::step_vjp(const VectorField<T>& f, T t0, T t1,
                                       const ConstBatchRef<T>& x0, const ConstVectorRef<T>& theta,
                                       const ConstBatchRef<T>& tape, const ConstBatchRef<T>& x1_bar,
                                       BatchRef<T> x0_bar, VectorRef<T> theta_bar) const {
  const VectorField<T>& frozen = noise_.freeze(f, t0, t1, x0.cols(), name(), false);
  base_->step_vjp(frozen, t0, t1, x0, theta, tape, x1_bar, x0_bar, theta_bar);
}

template <class T>
void ReversibleSdeStepper<T>::reverse_step(const VectorField<T>& f, T t0, T t1,
                                           const ConstBatchRef<T>& x1,
                                           const ConstVectorRef<T>& theta, BatchRef<T> x0) const {
  const VectorField<T>& frozen = noise_.freeze(f, t0, t1, x1.cols(), name(), false);
  base_->reverse_step(frozen, t0, t1, x1, theta, x0);
}

template <class T>
void ReversibleSdeStepper<T>::reverse_step_with_tape(const VectorField<T>& f, T t0, T t1,
                                                     const ConstBatchRef<T>& x1,
                                                     const ConstVectorRef<T>& theta, BatchRef<T> x0,
                                                     BatchRef<T> tape) const {
  const VectorField<T>& frozen = noise_.freeze(f, t0, t1, x1.cols(), name(), false);
  base_->reverse_step_with_tape(frozen, t0, t1, x1, theta, x0, tape);
}

// ---- SdeReversibleHeun ------------------------------------------------------------------

template <class T>
SdeReversibleHeun<T>::SdeReversibleHeun(std::shared_ptr<const BrownianTree> brownian,
                                        NoiseType noise, Index state_dim)
    : brownian_(std::move(brownian)), noise_(noise), d_(state_dim) {
  require(brownian_ != nullptr, "an SDE solver needs a Brownian motion");
  require(state_dim >= 1, "reversible-heun (SDE): state dimension {}; required: >= 1", state_dim);
  g_rows_ = diffusion_rows(noise, d_, brownian_->noise_dim());
}

template <class T>
const SdeField<T>& SdeReversibleHeun<T>::checked(const VectorField<T>& f) const {
  const SdeField<T>& sde = sde_field_or_throw(f, name());
  require(sde.state_dim() == d_ && sde.noise_type() == noise_ &&
              sde.noise_dim() == brownian_->noise_dim(),
          "{} was made for d = {}, {} noise, m = {}; field '{}' has d = {}, {} noise, m = {}",
          name(), d_, noise_type_name(noise_), brownian_->noise_dim(), sde.name(), sde.state_dim(),
          noise_type_name(sde.noise_type()), sde.noise_dim());
  return sde;
}

template <class T>
void SdeReversibleHeun<T>::increment(T t0, T t1, Index batch) const {
  require_forward_step(double(t0), double(t1), name());
  require_resolved_step(*brownian_, double(t0), double(t1), name());
  dw64_.resize(brownian_->noise_dim(), batch);
  brownian_->increment(double(t0), double(t1), dw64_);
  dw_ = dw64_.template cast<T>();
}

template <class T>
void SdeReversibleHeun<T>::evaluate(const VectorField<T>& f, const SdeField<T>& sde,
                                    bool check_finite, T t, const ConstBatchRef<T>& z,
                                    const ConstVectorRef<T>& theta, BatchRef<T> x) const {
  f.eval(t, z, theta, x.middleRows(2 * d_, d_));
  auto g = x.bottomRows(g_rows_);
  sde.diffusion(t, z, theta, g);
  if (check_finite) require_finite_diffusion<T>(sde, t, g);
}

template <class T>
void SdeReversibleHeun<T>::initialize(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                                      const ConstVectorRef<T>& theta, BatchRef<T> x0) const {
  const SdeField<T>& sde = checked(f);
  x0.topRows(d_) = y0;
  x0.middleRows(d_, d_) = y0;
  evaluate(f, sde, true, t0, y0, theta, x0);
}

template <class T>
void SdeReversibleHeun<T>::initialize_vjp(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                                          const ConstVectorRef<T>& theta,
                                          const ConstBatchRef<T>& x0_bar, BatchRef<T> y0_bar,
                                          VectorRef<T> theta_bar) const {
  const SdeField<T>& sde = checked(f);
  y_bar_.resize(d_, y0.cols());
  f.vjp(t0, y0, theta, x0_bar.middleRows(2 * d_, d_), y0_bar, theta_bar);
  sde.diffusion_vjp(t0, y0, theta, x0_bar.bottomRows(g_rows_), y_bar_, theta_bar);
  y0_bar += y_bar_ + x0_bar.topRows(d_) + x0_bar.middleRows(d_, d_);
}

template <class T>
void SdeReversibleHeun<T>::step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                                const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T>,
                                Batch<T>* error, bool) const {
  const SdeField<T>& sde = checked(f);
  const Index batch = x0.cols();
  const T h = t1 - t0;
  increment(t0, t1, batch);
  g_dw_.resize(d_, batch);
  apply_noise<T>(noise_, x0.bottomRows(g_rows_), dw_, g_dw_);
  auto z1 = x1.middleRows(d_, d_);
  z1 = T(2) * x0.topRows(d_) - x0.middleRows(d_, d_) + h * x0.middleRows(2 * d_, d_) + g_dw_;
  evaluate(f, sde, true, t1, z1, theta, x1);
  z_.resize(d_, batch);  // ½ (ĝ0 + ĝ1) ΔW, through ĝ1 ΔW
  apply_noise<T>(noise_, x1.bottomRows(g_rows_), dw_, z_);
  x1.topRows(d_) = x0.topRows(d_) +
                   (h / T(2)) * (x0.middleRows(2 * d_, d_) + x1.middleRows(2 * d_, d_)) +
                   T(0.5) * (g_dw_ + z_);
  // diffrax's ReversibleHeun estimate: y1 minus the explicit step y0 + f̂0 h + ĝ0 ΔW.
  if (error != nullptr)
    *error = (h / T(2)) * (x1.middleRows(2 * d_, d_) - x0.middleRows(2 * d_, d_)) +
             T(0.5) * (z_ - g_dw_);
}

template <class T>
void SdeReversibleHeun<T>::reverse_step(const VectorField<T>& f, T t0, T t1,
                                        const ConstBatchRef<T>& x1, const ConstVectorRef<T>& theta,
                                        BatchRef<T> x0) const {
  const SdeField<T>& sde = checked(f);
  const Index batch = x1.cols();
  const T h = t1 - t0;
  increment(t0, t1, batch);
  z_.resize(d_, batch);
  apply_noise<T>(noise_, x1.bottomRows(g_rows_), dw_, z_);
  auto z0 = x0.middleRows(d_, d_);
  z0 = T(2) * x1.topRows(d_) - x1.middleRows(d_, d_) - h * x1.middleRows(2 * d_, d_) - z_;
  evaluate(f, sde, false, t0, z0, theta, x0);  // a rebuilt state: the guard judges it
  g_dw_.resize(d_, batch);
  apply_noise<T>(noise_, x0.bottomRows(g_rows_), dw_, g_dw_);
  x0.topRows(d_) = x1.topRows(d_) -
                   (h / T(2)) * (x0.middleRows(2 * d_, d_) + x1.middleRows(2 * d_, d_)) -
                   T(0.5) * (g_dw_ + z_);
}

template <class T>
void SdeReversibleHeun<T>::step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                                    const ConstVectorRef<T>& theta, const ConstBatchRef<T>&,
                                    const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                                    VectorRef<T> theta_bar) const {
  const SdeField<T>& sde = checked(f);
  const Index batch = x0.cols();
  const T h = t1 - t0;
  increment(t0, t1, batch);
  const auto y_bar1 = x1_bar.topRows(d_);
  // ẑ1 exactly as `step` formed it.
  g_dw_.resize(d_, batch);
  apply_noise<T>(noise_, x0.bottomRows(g_rows_), dw_, g_dw_);
  z_ = T(2) * x0.topRows(d_) - x0.middleRows(d_, d_) + h * x0.middleRows(2 * d_, d_) + g_dw_;
  // f̂1 and ĝ1 feed y1 and are carried in x1.
  f_bar_ = x1_bar.middleRows(2 * d_, d_) + (h / T(2)) * y_bar1;
  g_bar_ = x1_bar.bottomRows(g_rows_);
  y_bar_ = T(0.5) * y_bar1;
  apply_noise_vjp<T>(noise_, y_bar_, dw_, g_bar_, true);
  z_bar_.resize(d_, batch);
  f.vjp(t1, z_, theta, f_bar_, z_bar_, theta_bar);
  y_bar_.resize(d_, batch);
  sde.diffusion_vjp(t1, z_, theta, g_bar_, y_bar_, theta_bar);
  z_bar_ += y_bar_ + x1_bar.middleRows(d_, d_);  // total ∂/∂ẑ1
  x0_bar.topRows(d_) = y_bar1 + T(2) * z_bar_;
  x0_bar.middleRows(d_, d_) = -z_bar_;
  x0_bar.middleRows(2 * d_, d_) = (h / T(2)) * y_bar1 + h * z_bar_;
  auto g0_bar = x0_bar.bottomRows(g_rows_);
  y_bar_ = T(0.5) * y_bar1 + z_bar_;  // ĝ0 ΔW feeds y1 by ½ and ẑ1 by 1
  apply_noise_vjp<T>(noise_, y_bar_, dw_, g0_bar, false);
}

// ---- factory ----------------------------------------------------------------------------

template <class T>
std::unique_ptr<Stepper<T>> make_sde_stepper(std::string_view name, const SolverOptions& options,
                                             std::shared_ptr<const BrownianTree> brownian,
                                             const SdeField<T>& field) {
  require(brownian != nullptr, "an SDE solver needs a Brownian motion");
  require(field.noise_dim() == brownian->noise_dim(),
          "field '{}' has noise dimension {}, the Brownian motion {}", field.name(),
          field.noise_dim(), brownian->noise_dim());
  if (name == "reversible-heun")
    return std::make_unique<SdeReversibleHeun<T>>(std::move(brownian), field.noise_type(),
                                                  field.state_dim());
  if (name == "shark")
    return std::make_unique<SdeShark<T>>(std::move(brownian), field.noise_type());
  std::unique_ptr<Stepper<T>> base = make_stepper<T>(name, options);
  if (const auto* rk = dynamic_cast<ExplicitRK<T>*>(base.get()); rk != nullptr) {
    const bool estimate = sde_error_estimate(rk->tableau());
    return std::make_unique<SdeStepper<T>>(std::move(base), std::move(brownian), estimate);
  }
  if (name.starts_with("reversible:")) {
    const bool estimate = sde_error_estimate(find_tableau(name.substr(11)));
    auto* reversible = dynamic_cast<ReversibleStepper<T>*>(base.get());
    base.release();
    return std::make_unique<ReversibleSdeStepper<T>>(
        std::unique_ptr<ReversibleStepper<T>>(reversible), std::move(brownian), estimate);
  }
  throw Error(
      fmt::format("solver '{}' has no SDE form here; SDE solvers: an explicit tableau (euler = "
                  "Euler–Maruyama, heun, midpoint, ...), reversible:<tableau> (McCallum–Foster), "
                  "reversible-heun or shark (additive noise)",
                  name));
}

#define REVODE_INSTANTIATE(T)                                                                      \
  template const SdeField<T>& sde_field_or_throw<T>(const VectorField<T>&, std::string_view);      \
  template class FrozenNoiseField<T>;                                                              \
  template class NoiseFreezer<T>;                                                                  \
  template class SdeStepper<T>;                                                                    \
  template class ReversibleSdeStepper<T>;                                                          \
  template class SdeReversibleHeun<T>;                                                             \
  template std::unique_ptr<Stepper<T>> make_sde_stepper<T>(std::string_view, const SolverOptions&, \
                                                           std::shared_ptr<const BrownianTree>,    \
                                                           const SdeField<T>&);
REVODE_INSTANTIATE(float)
REVODE_INSTANTIATE(double)
#undef REVODE_INSTANTIATE

}  // namespace revode
