/// Generic explicit Runge–Kutta step and its VJP (see explicit_rk.hpp).
#include "revode/solvers/explicit_rk.hpp"

#include "revode/core/error.hpp"

namespace revode {

template <class T>
ExplicitRK<T>::ExplicitRK(const ButcherTableau& tableau)
    : tableau_(tableau), fsal_(tableau.is_fsal()) {
  require(tableau.is_consistent(1e-12), "tableau '{}' is not a consistent explicit tableau",
          tableau.name);
}

template <class T>
int ExplicitRK<T>::evals_per_step() const {
  return fsal_ ? tableau_.stages - 1 : tableau_.stages;
}

template <class T>
void ExplicitRK<T>::stage_input(int i, T h, ConstBatchRef<T> y0, ConstBatchRef<T> tape,
                                Index batch, BatchRef<T> out) const {
  out = y0;
  const auto& row = tableau_.a[i];
  for (int j = 0; j < i; ++j)
    if (row[j] != 0.0) out.noalias() += (h * T(row[j])) * tape.middleCols(j * batch, batch);
}

template <class T>
void ExplicitRK<T>::step(const VectorField<T>& f, T t0, T t1, ConstBatchRef<T> x0,
                         ConstVectorRef<T> theta, BatchRef<T> x1, BatchRef<T> tape,
                         Batch<T>* error, bool first_stage_ready) const {
  run_step(f, t0, t1, x0, theta, x1, tape, error, first_stage_ready, false);
}

template <class T>
void ExplicitRK<T>::step_unchained(const VectorField<T>& f, T t0, T t1, ConstBatchRef<T> x0,
                                   ConstVectorRef<T> theta, BatchRef<T> x1, BatchRef<T> tape,
                                   Batch<T>* error) const {
  run_step(f, t0, t1, x0, theta, x1, tape, error, false, fsal_ && error == nullptr);
}

template <class T>
void ExplicitRK<T>::run_step(const VectorField<T>& f, T t0, T t1, ConstBatchRef<T> x0,
                             ConstVectorRef<T> theta, BatchRef<T> x1, BatchRef<T> tape,
                             Batch<T>* error, bool first_stage_ready, bool skip_fsal_stage) const {
  const Index batch = x0.cols();
  const T h = t1 - t0;
  const int s = tableau_.stages;
  stage_state_.resize(x0.rows(), batch);
  // An FSAL tableau's last stage has b_s = 0: it feeds only the error estimate and the next
  // step, so a caller wanting neither may skip it.
  const int evaluated = skip_fsal_stage ? s - 1 : s;
  for (int i = 0; i < evaluated; ++i) {
    if (i == 0 && first_stage_ready) continue;
    auto k_i = tape.middleCols(i * batch, batch);
    if (i == 0) {
      f.eval(t0, x0, theta, k_i);
      continue;
    }
    stage_input(i, h, x0, tape, batch, stage_state_);
    const T t_i = tableau_.c[i] == 1.0 ? t1 : t0 + T(tableau_.c[i]) * h;
    f.eval(t_i, stage_state_, theta, k_i);
  }
  // y1 with the b weights; for FSAL tableaux this equals the last stage input bit for bit, so
  // the carried stage really is f(t1, y1).
  x1 = x0;
  for (int i = 0; i < s; ++i)
    if (tableau_.b[i] != 0.0) x1.noalias() += (h * T(tableau_.b[i])) * tape.middleCols(i * batch, batch);
  if (error != nullptr && tableau_.has_embedded()) {
    error->setZero(x0.rows(), batch);
    for (int i = 0; i < s; ++i) {
      const double e = tableau_.error_weight(i);
      if (e != 0.0) error->noalias() += (h * T(e)) * tape.middleCols(i * batch, batch);
    }
  }
}

template <class T>
void ExplicitRK<T>::carry_fsal(BatchRef<T> tape) const {
  if (!fsal_) return;
  const Index batch = tape.cols() / tableau_.stages;
  tape.leftCols(batch) = tape.middleCols((tableau_.stages - 1) * batch, batch);
}

template <class T>
void ExplicitRK<T>::step_vjp(const VectorField<T>& f, T t0, T t1, ConstBatchRef<T> x0,
                             ConstVectorRef<T> theta, ConstBatchRef<T> tape,
                             ConstBatchRef<T> x1_bar, BatchRef<T> x0_bar,
                             VectorRef<T> theta_bar) const {
  const Index batch = x0.cols(), dim = x0.rows();
  const T h = t1 - t0;
  const int s = tableau_.stages;
  // k̄_i = h b_i ȳ1 + Σ_{j>i} h a_ji Ȳ_j, built up as later stages are transposed.
  k_bar_.resize(dim, s * batch);
  std::array<bool, kMaxStages> live{};
  for (int i = 0; i < s; ++i) {
    live[i] = tableau_.b[i] != 0.0;
    if (live[i]) k_bar_.middleCols(i * batch, batch) = (h * T(tableau_.b[i])) * x1_bar;
    else k_bar_.middleCols(i * batch, batch).setZero();
  }
  x0_bar = x1_bar;
  stage_state_.resize(dim, batch);
  stage_bar_.resize(dim, batch);
  for (int i = s - 1; i >= 0; --i) {
    if (!live[i]) continue;  // e.g. the FSAL stage, which only feeds the next step
    const T t_i = i == 0 ? t0 : (tableau_.c[i] == 1.0 ? t1 : t0 + T(tableau_.c[i]) * h);
    if (i == 0) {
      f.vjp(t_i, x0, theta, k_bar_.middleCols(0, batch), stage_bar_, theta_bar);
    } else {
      stage_input(i, h, x0, tape, batch, stage_state_);
      f.vjp(t_i, stage_state_, theta, k_bar_.middleCols(i * batch, batch), stage_bar_, theta_bar);
    }
    x0_bar += stage_bar_;
    for (int j = 0; j < i; ++j) {
      const double a_ij = tableau_.a[i][j];
      if (a_ij == 0.0) continue;
      k_bar_.middleCols(j * batch, batch).noalias() += (h * T(a_ij)) * stage_bar_;
      live[j] = true;
    }
  }
}

template <class T>
bool ExplicitRK<T>::start_derivative(ConstBatchRef<T> tape, Index batch, BatchRef<T> out) const {
  out = tape.leftCols(batch);
  return true;
}

template class ExplicitRK<float>;
template class ExplicitRK<double>;

}  // namespace revode
