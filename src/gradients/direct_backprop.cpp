/// Direct backprop: store every step's start state and tape, then apply the step VJPs in
/// reverse, adding each save's cotangent when the walk reaches it.
#include "revode/gradients/direct_backprop.hpp"

#include "revode/core/allocation_limit.hpp"
#include "revode/core/counting_field.hpp"
#include "revode/gradients/save_cotangents.hpp"

namespace revode {
namespace {

/// Appends blocks of a fixed shape to one growing buffer (amortised, no per-step allocation).
template <class T>
class BlockStore {
 public:
  BlockStore(Index rows, Index cols) : rows_(rows), cols_(cols), limit_(memory_limit()) {}
  void push(ConstBatchRef<T> block) {
    const std::size_t offset = data_.size();
    // Adaptive steps: the count is known only as it grows; stop at the limit, not in bad_alloc.
    if ((offset + std::size_t(rows_ * cols_)) * sizeof(T) > limit_)
      require_memory("backprop: steps stored", times_stored(),
                     {times_stored() + 1, rows_, cols_, Index(sizeof(T))});
    data_.resize(offset + std::size_t(rows_ * cols_));
    Eigen::Map<Batch<T>>(data_.data() + offset, rows_, cols_) = block;
  }
  Eigen::Map<const Batch<T>> operator[](Index n) const {
    return {data_.data() + n * rows_ * cols_, rows_, cols_};
  }
  Index floats() const { return Index(data_.size()); }

 private:
  Index times_stored() const {
    return rows_ * cols_ == 0 ? 0 : Index(data_.size()) / (rows_ * cols_);
  }
  Index rows_, cols_;
  std::uint64_t limit_;
  std::vector<T> data_;
};

/// Forward observer: keeps states, tapes, step times and save cotangents.
template <class T>
class StoreEverything final : public SolveObserver<T> {
 public:
  StoreEverything(Index rows, Index dim, Index tape_cols, Index batch, const Loss<T>& loss,
                  const SaveAt& save_at)
      : states(rows, batch), tapes(dim, tape_cols), recorder(loss, save_at) {}
  void on_step(const StepRecord<T>& step) override {
    states.push(step.x0);
    tapes.push(step.tape);
    times.push_back({step.t0, step.t1});
    last_state = step.x1;
  }
  void on_save(const SaveRecord<T>& save) override { recorder.record(save); }

  BlockStore<T> states, tapes;
  std::vector<std::pair<double, double>> times;
  Batch<T> last_state;
  LossRecorder<T> recorder;
};

}  // namespace

template <class T>
GradientResult<T> DirectBackprop<T>::compute(const GradientProblem<T>& p) const {
  const Index dim = p.field.state_dim(), batch = p.y0.cols();
  const Index rows = p.stepper.state_copies() * dim;
  if (const auto* fixed = std::get_if<FixedSteps>(&p.control); fixed != nullptr && fixed->steps > 0)
    require_memory(
        "steps (backprop stores every step)", fixed->steps,
        {fixed->steps, rows * batch + dim * p.stepper.tape_cols(batch), Index(sizeof(T))});
  StoreEverything<T> store(rows, dim, p.stepper.tape_cols(batch), batch, p.loss, p.save_at);
  GradientResult<T> result;
  result.stats = integrate(p.field, p.stepper, p.control, p.save_at, p.t0, p.t1, p.y0, p.theta, store);
  result.loss = store.recorder.finish(dim, batch);
  result.ts = store.recorder.times();

  CountingField<T> f(p.field);
  const auto& saves = store.recorder.cotangents();
  Batch<T> x_bar = Batch<T>::Zero(rows, batch), x_bar_prev(rows, batch);
  Batch<T> pending(dim, batch), scratch;
  result.grad_params = Vector<T>::Zero(p.theta.size());
  const Index n_steps = Index(store.times.size());
  Index j = Index(saves.size()) - 1;
  for (Index n = n_steps - 1; n >= 0; --n) {
    const auto [t0, t1] = store.times[std::size_t(n)];
    const auto x0 = store.states[n];
    const ConstBatchRef<T> x1 = n + 1 < n_steps ? ConstBatchRef<T>(store.states[n + 1])
                                                : ConstBatchRef<T>(store.last_state);
    pending.setZero();
    for (; j >= 0 && saves[std::size_t(j)].step == n; --j)
      pull_back_save<T>(f, saves[std::size_t(j)], t0, t1, x0.topRows(dim), x1.topRows(dim),
                        p.theta, pending, x_bar.topRows(dim), result.grad_params, scratch);
    p.stepper.step_vjp(f, T(t0), T(t1), x0, p.theta, store.tapes[n], x_bar, x_bar_prev,
                       result.grad_params);
    x_bar_prev.topRows(dim) += pending;
    x_bar.swap(x_bar_prev);
  }
  for (; j >= 0; --j) x_bar.topRows(dim) += saves[std::size_t(j)].y_bar;
  result.grad_y0.resize(dim, batch);
  p.stepper.initialize_vjp(f, T(p.t0), p.y0, p.theta, x_bar, result.grad_y0, result.grad_params);

  result.stats.nfe += f.nfe();
  result.stats.nvjp += f.nvjp();
  result.stats.stored_floats = store.states.floats() + rows * batch + store.tapes.floats() +
                               2 * n_steps + store.recorder.stored_floats() +
                               p.field.intermediate_floats(batch);
  return result;
}

template class DirectBackprop<float>;
template class DirectBackprop<double>;

}  // namespace revode
