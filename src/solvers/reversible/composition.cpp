/// Composition step, its exact inverse, its VJP and the free embedded estimate (see
/// composition.hpp). Scratch: a_/b_ ping-pong the intermediate solver states, bar_a_/bar_b_
/// their adjoints.
#include "revode/solvers/reversible/composition.hpp"

#include "revode/core/error.hpp"

namespace revode {

template <class T>
Composition<T>::Composition(std::unique_ptr<ReversibleStepper<T>> base,
                            const CompositionScheme& scheme)
    : base_(std::move(base)), scheme_(scheme) {
  require(base_ != nullptr, "composition '{}': the base stepper is null", scheme.name);
  const std::size_t s = scheme.gamma.size();
  require(s >= 3 && scheme.pair >= 1 && 2 * scheme.pair < s,
          "composition '{}' has {} sub-steps and estimate pair {}; required: at least 3 "
          "sub-steps and 1 ≤ pair < sub-steps / 2",
          scheme.name, s, scheme.pair);
  c_.assign(1, 0.0);
  for (double g : scheme.gamma) c_.push_back(c_.back() + g);
}

template <class T>
std::unique_ptr<Stepper<T>> Composition<T>::clone() const {
  std::unique_ptr<Stepper<T>> base = base_->clone();
  if (base == nullptr) return nullptr;
  // The base of a composition is reversible, and so is its clone.
  std::unique_ptr<ReversibleStepper<T>> reversible(
      static_cast<ReversibleStepper<T>*>(base.release()));
  return std::make_unique<Composition<T>>(std::move(reversible), scheme_);
}

template <class T>
std::string Composition<T>::name() const {
  return base_->name() + "-" + std::string(scheme_.name);
}

template <class T>
Index Composition<T>::tape_cols(Index batch) const {
  return state_offset(substeps(), batch) + substeps() * base_->tape_cols(batch);
}

template <class T>
T Composition<T>::node(T t0, T t1, Index i) const {
  if (i == 0) return t0;
  if (i == substeps()) return t1;
  return t0 + (t1 - t0) * T(c_[std::size_t(i)]);
}

template <class T>
Index Composition<T>::state_offset(Index i, Index batch) const {
  return (i - 1) * base_->state_copies() * batch;
}

template <class T>
Index Composition<T>::base_tape_offset(Index i, Index batch) const {
  return state_offset(substeps(), batch) + (i - 1) * base_->tape_cols(batch);
}

template <class T>
void Composition<T>::pack(const ConstBatchRef<T>& x, BatchRef<T> tape, Index i) const {
  const Index copies = base_->state_copies(), batch = x.cols(), dim = x.rows() / copies;
  const Index offset = state_offset(i, batch);
  for (Index c = 0; c < copies; ++c)
    tape.middleCols(offset + c * batch, batch) = x.middleRows(c * dim, dim);
}

template <class T>
void Composition<T>::unpack(const ConstBatchRef<T>& tape, Index i, Index dim, BatchRef<T> x) const {
  const Index copies = base_->state_copies(), batch = x.cols();
  const Index offset = state_offset(i, batch);
  for (Index c = 0; c < copies; ++c)
    x.middleRows(c * dim, dim) = tape.middleCols(offset + c * batch, batch);
}

template <class T>
void Composition<T>::initialize(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                                const ConstVectorRef<T>& theta, BatchRef<T> x0) const {
  base_->initialize(f, t0, y0, theta, x0);
}

template <class T>
void Composition<T>::initialize_vjp(const VectorField<T>& f, T t0, const ConstBatchRef<T>& y0,
                                    const ConstVectorRef<T>& theta, const ConstBatchRef<T>& x0_bar,
                                    BatchRef<T> y0_bar, VectorRef<T> theta_bar) const {
  base_->initialize_vjp(f, t0, y0, theta, x0_bar, y0_bar, theta_bar);
}

template <class T>
void Composition<T>::step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                          const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape,
                          Batch<T>* error, bool) const {
  const Index s = substeps(), dim = f.state_dim(), batch = x0.cols();
  const Index base_cols = base_->tape_cols(batch), i_pair = Index(scheme_.pair);
  a_ = x0;
  b_.resize(x0.rows(), batch);
  for (Index i = 1; i <= s; ++i) {
    auto base_tape = tape.middleCols(base_tape_offset(i, batch), base_cols);
    if (i == s) {
      base_->step(f, node(t0, t1, i - 1), t1, a_, theta, x1, base_tape, nullptr, false);
      break;
    }
    base_->step(f, node(t0, t1, i - 1), node(t0, t1, i), a_, theta, b_, base_tape, nullptr, false);
    pack(b_, tape, i);
    if (error != nullptr && i == i_pair) y_pair_ = b_.topRows(dim);
    if (error != nullptr && i == s - i_pair) y_pair_ -= b_.topRows(dim);
    a_.swap(b_);
  }
  if (error != nullptr) {
    // ŷ = y0 + (y_i − y_j)/(c_i − c_j), the free midpoint-rule result; error = y1 − ŷ.
    const T scale = T(1) / T(c_[scheme_.pair] - c_[std::size_t(s - i_pair)]);
    *error = x1.topRows(dim) - x0.topRows(dim) - scale * y_pair_;
  }
}

template <class T>
void Composition<T>::invert(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x1,
                            const ConstVectorRef<T>& theta, BatchRef<T> x0, BatchRef<T> tape,
                            bool with_tape) const {
  const Index s = substeps(), batch = x1.cols(), base_cols = base_->tape_cols(batch);
  a_ = x1;
  b_.resize(x1.rows(), batch);
  for (Index i = s; i >= 1; --i) {
    const T ta = node(t0, t1, i - 1), tb = node(t0, t1, i);
    const auto undo = [&](BatchRef<T> out) {
      if (with_tape && base_cols > 0)
        base_->reverse_step_with_tape(f, ta, tb, a_, theta, out,
                                      tape.middleCols(base_tape_offset(i, batch), base_cols));
      else
        base_->reverse_step(f, ta, tb, a_, theta, out);
    };
    if (i == 1) {
      undo(x0);
      break;
    }
    undo(b_);
    if (with_tape) pack(b_, tape, i - 1);
    a_.swap(b_);
  }
}

template <class T>
void Composition<T>::reverse_step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x1,
                                  const ConstVectorRef<T>& theta, BatchRef<T> x0) const {
  invert(f, t0, t1, x1, theta, x0, tape_, false);
}

template <class T>
void Composition<T>::reverse_step_with_tape(const VectorField<T>& f, T t0, T t1,
                                            const ConstBatchRef<T>& x1,
                                            const ConstVectorRef<T>& theta, BatchRef<T> x0,
                                            BatchRef<T> tape) const {
  invert(f, t0, t1, x1, theta, x0, tape, tape.cols() > 0);
}

template <class T>
void Composition<T>::step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                              const ConstVectorRef<T>& theta, const ConstBatchRef<T>& tape,
                              const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                              VectorRef<T> theta_bar) const {
  const Index s = substeps(), dim = f.state_dim(), batch = x0.cols();
  const Index base_cols = base_->tape_cols(batch);
  bar_a_ = x1_bar;
  bar_b_.resize(x0.rows(), batch);
  a_.resize(x0.rows(), batch);
  // The sub-step VJPs in reverse order, each at its start state x_{i−1} from the tape.
  for (Index i = s; i >= 1; --i) {
    const T ta = node(t0, t1, i - 1), tb = node(t0, t1, i);
    const auto base_tape = tape.middleCols(base_tape_offset(i, batch), base_cols);
    if (i == 1) {
      base_->step_vjp(f, ta, tb, x0, theta, base_tape, bar_a_, x0_bar, theta_bar);
      break;
    }
    unpack(tape, i - 1, dim, a_);
    base_->step_vjp(f, ta, tb, a_, theta, base_tape, bar_a_, bar_b_, theta_bar);
    bar_a_.swap(bar_b_);
  }
}

template class Composition<float>;
template class Composition<double>;

}  // namespace revode
