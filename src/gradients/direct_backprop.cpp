/// Direct backprop: store every step's start state and tape and every saved state, then apply
/// the step VJPs in reverse, adding each save's cotangent (evaluated on its stored state) when
/// the walk reaches it.
#include "revode/gradients/direct_backprop.hpp"

#include <algorithm>

#include "revode/core/allocation_limit.hpp"
#include "revode/core/chunks_in_flight.hpp"
#include "revode/core/counting_field.hpp"
#include "revode/gradients/recomputed_cotangents.hpp"
#include "revode/gradients/save_cotangents.hpp"
#include "revode/nn/mlp.hpp"

#include "forward_tape_scope.hpp"

namespace revode {
namespace {

/// Appends blocks of a fixed shape to one growing buffer (amortised, no per-step allocation).
template <class T>
class BlockStore {
 public:
  // The limit is shared by the chunks that run at once (parallel_gradient): this one's share.
  BlockStore(Index rows, Index cols)
      : rows_(rows), cols_(cols), limit_(memory_limit() / std::uint64_t(chunks_in_flight())) {}
  void push(const ConstBatchRef<T>& block) {
    const std::size_t offset = data_.size();
    // Adaptive steps: the count is known only as it grows; stop at the limit, not in bad_alloc.
    if ((offset + std::size_t(rows_ * cols_)) * sizeof(T) > limit_)
      require_memory("backprop: steps stored", times_stored(),
                     {times_stored() + 1, rows_, cols_, Index(sizeof(T))});
    data_.resize(offset + std::size_t(rows_ * cols_));
    Eigen::Map<Batch<T>>(data_.data() + offset, rows_, cols_) = block;
  }
  /// Room for `blocks` blocks up front when their count is known (fixed steps): one
  /// allocation of the final size instead of a doubling vector's copies and fresh pages.
  void reserve(Index blocks) { data_.reserve(std::size_t(blocks * rows_ * cols_)); }
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

/// The forward tape's bound (forward_tape_scope.hpp): a million-step white-dwarf backprop
/// keeps its first ~615,000 evaluations; the reference gradient at batch 256 (2→64→64→2, 1000
/// midpoint steps) its first 496 of 2000 (135 KB each: the second hidden layer's σ). Keeping
/// all 2000 (270 MB) would save 14% of that gradient against 4% (docs/performance.md,
/// "Session 7"); the bound keeps backprop's memory what the memory tables say.
constexpr std::uint64_t kForwardTapeBytes = std::uint64_t{64} << 20;

/// Where a save sits (see SaveRecord); its state is kept in a BlockStore beside it.
struct SavePlace {
  Index k;
  double t;
  Index step;
  double s;
};

/// Forward observer: keeps states, tapes, step times and the saved states y_k (the loss
/// cotangents are evaluated on them in the backward half), and sums the loss value.
template <class T>
class StoreEverything final : public SolveObserver<T> {
 public:
  StoreEverything(Index rows, Index dim, Index tape_cols, Index batch, const Loss<T>& loss,
                  const SaveAt& save_at)
      : states(rows, batch), tapes(dim, tape_cols), saved(dim, batch), loss_value(loss, save_at) {}
  void on_step(const StepRecord<T>& step) override {
    states.push(step.x0);
    tapes.push(step.tape);
    times.push_back({step.t0, step.t1});
    last_state = step.x1;
  }
  void on_save(const SaveRecord<T>& save) override {
    loss_value.record(save);
    saved.push(save.y);
    places.push_back({save.k, save.t, save.step, save.s});
  }

  BlockStore<T> states, tapes, saved;
  std::vector<std::pair<double, double>> times;
  std::vector<SavePlace> places;
  Batch<T> last_state;
  LossValue<T> loss_value;
};

/// What the forward half leaves for the backward half: everything (see StoreEverything).
template <class T>
struct BackpropRecord final : ForwardRecord<T> {
  BackpropRecord(Index rows, Index dim, Index tape_cols, Index batch, const Loss<T>& problem_loss,
                 const SaveAt& save_at)
      : store(rows, dim, tape_cols, batch, problem_loss, save_at) {}
  StoreEverything<T> store;
};

}  // namespace

template <class T>
std::unique_ptr<ForwardRecord<T>> DirectBackprop<T>::forward(const GradientProblem<T>& p,
                                                           SolveObserver<T>* saves) const {
  const Index dim = p.field.state_dim(), batch = p.y0.cols();
  const Index rows = p.stepper.state_copies() * dim;
  if (const auto* fixed = std::get_if<FixedSteps>(&p.control); fixed != nullptr && fixed->steps > 0)
    require_memory(
        "steps (backprop stores every step)", fixed->steps,
        {fixed->steps, rows * batch + dim * p.stepper.tape_cols(batch), Index(sizeof(T))});
  auto record = std::make_unique<BackpropRecord<T>>(rows, dim, p.stepper.tape_cols(batch), batch,
                                                    p.loss, p.save_at);
  StoreEverything<T>& store = record->store;
  if (const auto* fixed = std::get_if<FixedSteps>(&p.control);
      fixed != nullptr && fixed->steps > 0) {
    // Within the limit checked above (the saves at every step are no more than the states;
    // given save times are checked by integrate, so their store grows as they come).
    store.states.reserve(fixed->steps);
    store.tapes.reserve(fixed->steps);
    if (p.save_at.steps) store.saved.reserve(fixed->steps + 1);
  }
  TeeObserver<T> observer(store, saves);
  {
    const ForwardTapeScope<T> recording(p.field, kForwardTapeBytes,
                                        ForwardTapeScope<T>::Order::reverse);
    record->stats =
        integrate(p.field, p.stepper, p.control, p.save_at, p.t0, p.t1, p.y0, p.theta, observer);
  }
  record->loss = store.loss_value.finish(dim, batch);
  record->ts = store.loss_value.take_times();
  return record;
}

template <class T>
GradientResult<T> DirectBackprop<T>::backward(const GradientProblem<T>& p, ForwardRecord<T>& base,
                                              const Loss<T>& loss) const {
  auto& record = this->template take_record<BackpropRecord<T>>(base);
  const StoreEverything<T>& store = record.store;
  const Index dim = p.field.state_dim(), batch = p.y0.cols();
  const Index rows = p.stepper.state_copies() * dim;
  GradientResult<T> result = this->result_from(record);
  const Index n_saves = Index(store.places.size());
  loss.check_saves(n_saves);
  const double scale = loss.scale(n_saves, dim, batch);
  // Save j's cotangent scale · ∂ℓ_k/∂y_k, evaluated on its stored state when the walk reaches it.
  SaveCotangent<T> save{0.0, 0, 1.0, Batch<T>(dim, batch)};
  auto cotangent = [&](Index j) -> const SaveCotangent<T>& {
    const SavePlace& at = store.places[std::size_t(j)];
    save.t = at.t;
    save.step = at.step;
    save.s = at.s;
    (void)loss.term(at.k, at.t, store.saved[j], save.y_bar);
    save.y_bar *= T(scale);
    return save;
  };

  CountingField<T> f(p.field);
  const auto* const mlp = dynamic_cast<const Mlp<T>*>(&p.field);
  const Index recorded = mlp != nullptr ? mlp->recorded_floats() : 0;  // the tape at its peak
  Batch<T> x_bar = Batch<T>::Zero(rows, batch), x_bar_prev(rows, batch);
  Batch<T> pending(dim, batch), scratch;
  result.grad_params = Vector<T>::Zero(p.theta.size());
  // Every VJP below adds into result.grad_params, which nothing reads until the loop ends: an
  // Mlp adds its weight gradients four VJPs at a time, the same bits with a quarter of W̄'s
  // traffic (Mlp::defer_weight_gradients; docs/performance.md, lever 12).
  DeferWeightGradients<T> deferring(p.field, result.grad_params);
  const Index n_steps = Index(store.times.size());
  Index j = n_saves - 1;
  for (Index n = n_steps - 1; n >= 0; --n) {
    const auto [t0, t1] = store.times[std::size_t(n)];
    const auto x0 = store.states[n];
    const ConstBatchRef<T> x1 = n + 1 < n_steps ? ConstBatchRef<T>(store.states[n + 1])
                                                : ConstBatchRef<T>(store.last_state);
    pending.setZero();
    for (; j >= 0 && store.places[std::size_t(j)].step == n; --j)
      pull_back_save<T>(f, cotangent(j), t0, t1, x0.topRows(dim), x1.topRows(dim), p.theta,
                        pending, x_bar.topRows(dim), result.grad_params, scratch);
    p.stepper.step_vjp(f, T(t0), T(t1), x0, p.theta, store.tapes[n], x_bar, x_bar_prev,
                       result.grad_params);
    x_bar_prev.topRows(dim) += pending;
    x_bar.swap(x_bar_prev);
  }
  for (; j >= 0; --j) x_bar.topRows(dim) += cotangent(j).y_bar;
  result.grad_y0.resize(dim, batch);
  p.stepper.initialize_vjp(f, T(p.t0), p.y0, p.theta, x_bar, result.grad_y0, result.grad_params);
  deferring.finish();

  result.stats.nfe += f.nfe();
  result.stats.nvjp += f.nvjp();
  result.stats.stored_floats = store.states.floats() + rows * batch + store.tapes.floats() +
                               2 * n_steps + store.saved.floats() + save.y_bar.size() +
                               p.field.intermediate_floats(batch) + recorded +
                               deferring.floats(batch);
  if (mlp != nullptr) mlp->drop_forwards();
  return result;
}

template class DirectBackprop<float>;
template class DirectBackprop<double>;

}  // namespace revode
