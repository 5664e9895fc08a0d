/// The continuous adjoint: an augmented vector field solved backwards between save times with
/// the one integrate loop (see continuous_adjoint.hpp).
#include "revode/gradients/continuous_adjoint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "revode/core/counting_field.hpp"
#include "revode/gradients/recomputed_cotangents.hpp"
#include "revode/sde/sde_field.hpp"
#include "revode/solvers/fixed_grid.hpp"

namespace revode {
namespace {

/// u = [vec z; vec a; a_θ], one column: z and a are dim × batch blocks, a_θ (param_count) is
/// summed over the batch, which a per-sample column layout could not hold. The batch of the
/// user's field is therefore folded into the rows and the augmented solve has batch 1.
template <class T>
class AugmentedField final : public VectorField<T> {
 public:
  AugmentedField(const VectorField<T>& f, Index batch)
      : f_(f), dim_(f.state_dim()), batch_(batch) {}

  Index state_dim() const override { return 2 * dim_ * batch_ + f_.param_count(); }
  Index param_count() const override { return f_.param_count(); }
  std::string name() const override { return "adjoint of " + f_.name(); }
  void eval(T t, const ConstBatchRef<T>& u, const ConstVectorRef<T>& theta,
            BatchRef<T> du) const override {
    const Index block = dim_ * batch_;
    const Eigen::Map<const Batch<T>> z(u.data(), dim_, batch_), a(u.data() + block, dim_, batch_);
    Eigen::Map<Batch<T>> dz(du.data(), dim_, batch_), da(du.data() + block, dim_, batch_);
    Eigen::Map<Vector<T>> da_theta(du.data() + 2 * block, f_.param_count());
    f_.eval(t, z, theta, dz);
    da_theta.setZero();
    f_.vjp(t, z, theta, a, da, da_theta);
    da = -da;
    da_theta = -da_theta;
  }
  void vjp(T, const ConstBatchRef<T>&, const ConstVectorRef<T>&, const ConstBatchRef<T>&,
           BatchRef<T>, VectorRef<T>) const override {
    throw Error("the continuous adjoint's augmented field has no VJP (none is needed)");
  }
  Index intermediate_floats(Index) const override { return f_.intermediate_floats(batch_); }
  std::unique_ptr<VectorField<T>> clone() const override {
    return std::make_unique<AugmentedField>(f_, batch_);
  }

 private:
  const VectorField<T>& f_;
  Index dim_, batch_;
};

/// Forward observer: the loss value and the saved states (z is reset to them, and each
/// save's cotangent is recomputed from its state on the way back).
template <class T>
class KeepSaves final : public SolveObserver<T> {
 public:
  KeepSaves(const Loss<T>& loss, const SaveAt& save_at) : loss_value(loss, save_at) {}
  void on_save(const SaveRecord<T>& save) override {
    loss_value.record(save);
    ys.emplace_back(save.y);
  }
  LossValue<T> loss_value;
  std::vector<Batch<T>> ys;
};

/// Backward observer: the augmented state at the end of a segment.
template <class T>
class KeepEnd final : public SolveObserver<T> {
 public:
  explicit KeepEnd(Batch<T>& u) : u_(u) {}
  void on_save(const SaveRecord<T>& save) override { u_ = save.y; }

 private:
  Batch<T>& u_;
};

double parse_positive(std::string_view item, std::string_view value) {
  const std::string text(value);
  char* end = nullptr;
  const double x = std::strtod(text.c_str(), &end);
  require(!text.empty() && end == text.c_str() + text.size() && std::isfinite(x) && x > 0,
          "adjoint: '{}' needs a positive number, e.g. rtol=1e-8", item);
  return x;
}

/// What the forward half leaves for the backward solve: the saved states.
template <class T>
struct AdjointRecord final : ForwardRecord<T> {
  std::vector<Batch<T>> ys;
};

}  // namespace

AdjointOptions AdjointOptions::parse(std::string_view options) {
  AdjointOptions o;
  std::vector<std::string_view> seen;  // each option once: "seminorm,seminorm" is a typo
  while (!options.empty()) {
    const auto comma = options.find(',');
    const std::string_view item = options.substr(0, comma);
    options = comma == std::string_view::npos ? std::string_view() : options.substr(comma + 1);
    const std::string_view key = item.substr(0, item.find('='));
    require(std::find(seen.begin(), seen.end(), key) == seen.end(),
            "adjoint: option '{}' is given twice", key);
    seen.push_back(key);
    if (item == "seminorm") o.seminorm = true;
    else if (item.starts_with("rtol=")) o.rtol = parse_positive(item, item.substr(5));
    else if (item.starts_with("atol=")) o.atol = parse_positive(item, item.substr(5));
    else throw Error(fmt::format("adjoint: unknown option '{}' (known: rtol=R, atol=A, seminorm)", item));
  }
  return o;
}

template <class T>
ContinuousAdjoint<T>::ContinuousAdjoint(AdjointOptions options) : options_(options) {}

template <class T>
std::string ContinuousAdjoint<T>::name() const {
  std::string s = "adjoint";
  char sep = ':';
  if (options_.rtol) s += fmt::format("{}rtol={}", std::exchange(sep, ','), *options_.rtol);
  if (options_.atol) s += fmt::format("{}atol={}", std::exchange(sep, ','), *options_.atol);
  if (options_.seminorm) s += fmt::format("{}seminorm", sep);
  return s;
}

template <class T>
std::unique_ptr<ForwardRecord<T>> ContinuousAdjoint<T>::forward(const GradientProblem<T>& p,
                                                              SolveObserver<T>* saves) const {
  // Refused before the forward solve: the augmented field below is the ODE adjoint of the
  // drift alone, and the SDE stepper would stop on it half-way ("has no diffusion").
  require(dynamic_cast<const SdeField<T>*>(&p.field) == nullptr,
          "gradient method '{}' is the continuous adjoint of an ODE; it does not apply to the "
          "SDE '{}' (the adjoint SDE is not implemented): use backprop, anode, checkpoint:C or, "
          "with a reversible solver, reversible",
          name(), p.field.name());
  const Index dim = p.field.state_dim(), batch = p.y0.cols();
  KeepSaves<T> saved(p.loss, p.save_at);
  TeeObserver<T> observer(saved, saves);
  auto record = std::make_unique<AdjointRecord<T>>();
  record->stats =
      integrate(p.field, p.stepper, p.control, p.save_at, p.t0, p.t1, p.y0, p.theta, observer);
  record->loss = saved.loss_value.finish(dim, batch);
  record->ts = saved.loss_value.take_times();
  record->ys = std::move(saved.ys);
  return record;
}

template <class T>
GradientResult<T> ContinuousAdjoint<T>::backward(const GradientProblem<T>& p,
                                                 ForwardRecord<T>& base,
                                                 const Loss<T>& loss) const {
  auto& record = this->template take_record<AdjointRecord<T>>(base);
  const Index dim = p.field.state_dim(), batch = p.y0.cols(), params = p.theta.size();
  GradientResult<T> result = this->result_from(record);
  const std::vector<Batch<T>>& ys = record.ys;
  loss.check_saves(Index(ys.size()));
  const double scale = loss.scale(Index(ys.size()), dim, batch);

  // The backward solve: fixed steps of the forward size, or adaptive steps with the forward
  // options and this method's tolerances (and seminorm); dt0 is left to the heuristic, since a
  // forward dt0 says nothing about the adjoint.
  StepControl control = p.control;
  if (auto* fixed = std::get_if<FixedSteps>(&control)) {
    const double h = fixed->steps > 0 ? std::abs(p.t1 - p.t0) / double(fixed->steps) : fixed->dt;
    *fixed = FixedSteps{.dt = h};
  } else {
    auto& a = std::get<AdaptiveSteps>(control);
    a.rtol = options_.rtol.value_or(a.rtol);
    a.atol = options_.atol.value_or(a.atol);
    a.dt0 = 0;
    a.norm_rows = options_.seminorm ? 2 * dim * batch : 0;
  }

  CountingField<T> counted(p.field);
  const AugmentedField<T> augmented(counted, batch);
  const std::vector<double>& save_times = result.ts;
  const Index block = dim * batch;
  Batch<T> u = Batch<T>::Zero(augmented.state_dim(), 1);
  auto z = [&]() { return Eigen::Map<Batch<T>>(u.data(), dim, batch); };
  auto a = [&]() { return Eigen::Map<Batch<T>>(u.data() + block, dim, batch); };
  // A save at the initial time holds y0 itself, whatever its recorded time within the snap.
  const TimeAxis axis(p.t0, p.t1);
  auto time_of = [&](std::size_t k) {
    return axis.beyond(save_times[k], p.t0) ? save_times[k] : p.t0;
  };
  // a += scale · ∂ℓ_k/∂y at the saved state y_k.
  Batch<T> y_bar(dim, batch);
  auto add_cotangent = [&](std::size_t k) {
    (void)loss.term(Index(k), save_times[k], ys[k], y_bar);
    a() += T(scale) * y_bar;
  };
  Batch<T> u_end;  // not u itself: integrate reads its initial state from u
  KeepEnd<T> end(u_end);
  std::size_t k = save_times.size() - 1;
  z() = ys[k];
  a().setZero();
  add_cotangent(k);
  for (double t = time_of(k);;) {
    const double target = k > 0 ? time_of(k - 1) : p.t0;
    if (target != t) {
      integrate<T>(augmented, p.stepper, control, SaveAt::final_time(target), t, target, u,
                   p.theta, end);
      u.swap(u_end);
    }
    t = target;
    if (k == 0) break;
    --k;
    z() = ys[k];
    add_cotangent(k);
  }
  result.grad_y0 = a();
  result.grad_params = u.col(0).segment(2 * block, params);

  result.stats.nfe += counted.nfe();
  result.stats.nvjp += counted.nvjp();
  const Index stage_floats = p.stepper.tape_cols(1) * augmented.state_dim();
  result.stats.stored_floats = Index(ys.size()) * block + y_bar.size() + u.size() +
                               stage_floats + p.field.intermediate_floats(batch);
  return result;
}

template class ContinuousAdjoint<float>;
template class ContinuousAdjoint<double>;

}  // namespace revode
