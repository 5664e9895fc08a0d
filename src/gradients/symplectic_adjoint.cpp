/// The symplectic adjoint: store (t_n, y_n), then per step recompute the stages and run the
/// partitioned-RK adjoint recursion stage by stage (see symplectic_adjoint.hpp).
#include "revode/gradients/symplectic_adjoint.hpp"

#include <cmath>
#include <limits>

#include "revode/core/allocation_limit.hpp"
#include "revode/core/counting_field.hpp"
#include "revode/gradients/step_adjoint.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/step_sequence.hpp"

namespace revode {

std::array<std::array<double, kMaxStages>, kMaxStages> symplectic_partner(const ButcherTableau& t) {
  std::array<std::array<double, kMaxStages>, kMaxStages> a_bar{};
  for (int i = 0; i < t.stages; ++i)
    for (int j = 0; j < t.stages; ++j)
      a_bar[i][j] = t.b[i] == 0.0 ? std::numeric_limits<double>::quiet_NaN()
                                  : t.b[j] - t.b[j] * t.a[j][i] / t.b[i];
  return a_bar;
}

namespace {

/// Forward observer: y_n at the start of every step and y_N, the step times when they are
/// not known in advance, and the loss value.
template <class T>
class StoreStates final : public SolveObserver<T> {
 public:
  StoreStates(Index dim, Index batch, StepSequence& times, const Loss<T>& loss,
              const SaveAt& save_at)
      : loss_value(loss, save_at), dim_(dim), batch_(batch), times_(times) {}
  void on_step(const StepRecord<T>& step) override {
    if (!times_.known_in_advance()) times_.record(step.t1);
    push(step.x0);
    last_ = step.x1;
  }
  void on_save(const SaveRecord<T>& save) override { loss_value.record(save); }
  /// y_n for n = 0 … N.
  Eigen::Map<const Batch<T>> state(Index n) const {
    if (n * dim_ * batch_ == Index(data_.size())) return {last_.data(), dim_, batch_};
    return {data_.data() + n * dim_ * batch_, dim_, batch_};
  }
  Index floats() const { return Index(data_.size()) + last_.size(); }

  LossValue<T> loss_value;

 private:
  void push(const ConstBatchRef<T>& y) {
    const std::size_t offset = data_.size();
    data_.resize(offset + std::size_t(dim_ * batch_));
    Eigen::Map<Batch<T>>(data_.data() + offset, dim_, batch_) = y;
  }
  Index dim_, batch_;
  StepSequence& times_;
  std::vector<T> data_;
  Batch<T> last_;
};

/// One step's adjoint, stage by stage. Which stages take part is a property of the tableau
/// alone: stage i is live when b_i ≠ 0 or a live later stage reads it (a_ji ≠ 0), and its
/// derivative k_i must be recomputed when a live later stage reads it.
template <class T>
class StageAdjoint {
 public:
  StageAdjoint(const ButcherTableau& tableau, Index dim, Index batch) : tab_(tableau) {
    for (int i = tab_.stages - 1; i >= 0; --i) {
      live_[i] = tab_.b[i] != 0.0;
      for (int j = i + 1; j < tab_.stages; ++j)
        if (live_[j] && tab_.a[j][i] != 0.0) live_[i] = needed_[i] = true;
    }
    for (int i = 0; i < tab_.stages; ++i) {
      if (needed_[i]) k_[i].resize(dim, batch);
      if (live_[i]) acc_[i].resize(dim, batch);
    }
    stage_.resize(dim, batch);
    cotangent_.resize(dim, batch);
    v_.resize(dim, batch);
  }

  /// λ_n (into lambda0) and ∂L/∂θ (accumulated) from λ_{n+1} = lambda1 for step y0: t0 → t1.
  void run(const VectorField<T>& f, double t0, double t1, const ConstBatchRef<T>& y0,
           const ConstVectorRef<T>& theta, const Batch<T>& lambda1, Batch<T>& lambda0,
           Vector<T>& theta_bar) {
    const T h = T(t1) - T(t0);
    for (int i = 0; i < tab_.stages; ++i) {
      if (!needed_[i]) continue;
      stage_input(i, h, y0);
      f.eval(stage_time(i, t0, t1, h), stage_, theta, k_[i]);
    }
    lambda0 = lambda1;
    for (int i = 0; i < tab_.stages; ++i)
      if (live_[i]) acc_[i].setZero();
    for (int i = tab_.stages - 1; i >= 0; --i) {
      if (!live_[i]) continue;  // e.g. a trailing FSAL stage: nothing depends on it
      // acc_i = Σ_{j>i} a_ji V_j with V_j = h b_j J_jᵀ Λ_j, so acc_i / b_i is
      // h Σ_{j>i} (b_j − Ā_ij) J_jᵀ Λ_j: the partner tableau's stage sum.
      const T b_i = T(tab_.b[i]);
      if (tab_.b[i] != 0.0) cotangent_ = (h * b_i) * (lambda1 + acc_[i] / b_i);  // h b_i Λ_i
      else cotangent_ = (h * h) * (acc_[i] / h);                                // h² Λ̃_i
      stage_input(i, h, y0);
      f.vjp(stage_time(i, t0, t1, h), stage_, theta, cotangent_, v_, theta_bar);
      lambda0 += v_;  // λ_n = λ_{n+1} + h Σ_i b_i J_iᵀ Λ_i
      for (int l = 0; l < i; ++l)
        if (tab_.a[i][l] != 0.0) acc_[l].noalias() += T(tab_.a[i][l]) * v_;
    }
  }

  Index floats() const {
    Index n = stage_.size() + cotangent_.size() + v_.size();
    for (int i = 0; i < tab_.stages; ++i) n += k_[i].size() + acc_[i].size();
    return n;
  }

 private:
  /// The stage times and inputs exactly as ExplicitRK::step forms them.
  T stage_time(int i, double t0, double t1, T h) const {
    return tab_.c[i] == 1.0 ? T(t1) : T(t0) + T(tab_.c[i]) * h;
  }
  void stage_input(int i, T h, const ConstBatchRef<T>& y0) {
    stage_ = y0;
    for (int j = 0; j < i; ++j)
      if (tab_.a[i][j] != 0.0) stage_.noalias() += (h * T(tab_.a[i][j])) * k_[j];
  }

  const ButcherTableau& tab_;
  std::array<bool, kMaxStages> live_{}, needed_{};
  std::array<Batch<T>, kMaxStages> k_, acc_;
  Batch<T> stage_, cotangent_, v_;
};

/// What the forward half leaves for the backward half: the step times and the states.
template <class T>
struct SymplecticRecord final : ForwardRecord<T> {
  SymplecticRecord(StepSequence step_times, Index dim, Index batch, const Loss<T>& problem_loss,
                   const SaveAt& save_at)
      : times(std::move(step_times)), store(dim, batch, times, problem_loss, save_at) {}
  StepSequence times;
  StoreStates<T> store;
  Index saves = 0;
};

template <class T>
const ExplicitRK<T>& explicit_rk_or_throw(const Stepper<T>& stepper) {
  const auto* rk = dynamic_cast<const ExplicitRK<T>*>(&stepper);
  require(rk != nullptr,
          "symplectic: the symplectic adjoint needs the stage structure of an explicit "
          "Runge–Kutta tableau, but the solver '{}' is not an explicit RK method; use anode, "
          "checkpoint:C or backprop with it",
          stepper.name());
  return *rk;
}

}  // namespace

template <class T>
std::unique_ptr<ForwardRecord<T>> SymplecticAdjoint<T>::forward(const GradientProblem<T>& p,
                                                              SolveObserver<T>* saves) const {
  (void)explicit_rk_or_throw(p.stepper);
  require(std::isfinite(p.t0) && std::isfinite(p.t1) && p.t0 != p.t1,
          "time interval [t0, t1] = [{}, {}]; required: finite and t0 != t1", p.t0, p.t1);
  validate(p.control);
  validate(p.save_at, p.t0, p.t1);
  const Index dim = p.field.state_dim(), batch = p.y0.cols();
  const auto* fixed = std::get_if<FixedSteps>(&p.control);
  if (fixed != nullptr && fixed->steps > 0)  // every step's start state is kept
    require_memory("steps (symplectic stores every step's state)", fixed->steps,
                   {fixed->steps, dim, batch, Index(sizeof(T))});
  auto record = std::make_unique<SymplecticRecord<T>>(
      fixed ? StepSequence::fixed(*fixed, p.save_at, p.t0, p.t1) : StepSequence::recorded(p.t0),
      dim, batch, p.loss, p.save_at);
  StoreStates<T>& store = record->store;
  TeeObserver<T> observer(store, saves);
  record->stats =
      integrate(p.field, p.stepper, p.control, p.save_at, p.t0, p.t1, p.y0, p.theta, observer);
  record->loss = store.loss_value.finish(dim, batch);
  record->saves = store.loss_value.saves();
  record->ts = store.loss_value.take_times();
  return record;
}

template <class T>
GradientResult<T> SymplecticAdjoint<T>::backward(const GradientProblem<T>& p,
                                                 ForwardRecord<T>& base,
                                                 const Loss<T>& loss) const {
  const ExplicitRK<T>* rk = &explicit_rk_or_throw(p.stepper);
  auto& record = this->template take_record<SymplecticRecord<T>>(base);
  const Index dim = p.field.state_dim(), batch = p.y0.cols();
  GradientResult<T> result = this->result_from(record);
  const StepSequence& times = record.times;
  const StoreStates<T>& store = record.store;

  CountingField<T> f(p.field);
  SaveWalk<T> saves(p, f, loss, record.saves);
  StepAdjoint<T> walk(p, f, saves);
  StageAdjoint<T> stages(rk->tableau(), dim, batch);
  for (Index n = times.steps() - 1; n >= 0; --n) {
    const double t0 = times[n], t1 = times[n + 1];
    walk.add_saves(t0, t1, store.state(n), store.state(n + 1));
    stages.run(f, t0, t1, store.state(n), p.theta, walk.x1_bar(), walk.x0_bar(), walk.theta_bar());
    walk.finish_step();
  }
  result.grad_y0 = walk.grad_y0();
  result.grad_params = std::move(walk.theta_bar());

  result.stats.nfe += f.nfe();
  result.stats.nvjp += f.nvjp();
  result.stats.recomputed_steps = times.steps();
  result.stats.stored_floats = store.floats() + times.stored_floats() + stages.floats() +
                               saves.stored_floats() + p.field.intermediate_floats(batch);
  return result;
}

template class SymplecticAdjoint<float>;
template class SymplecticAdjoint<double>;

}  // namespace revode
