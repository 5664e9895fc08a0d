/// Generic explicit Runge–Kutta step and its VJP (see explicit_rk.hpp).
#include "revode/solvers/explicit_rk.hpp"

#include "revode/core/error.hpp"
#include "../core/fit.hpp"
#include "stage_sum.hpp"

namespace revode {
template <class T>
ExplicitRK<T>::ExplicitRK(const ButcherTableau& tableau)
    : tableau_(tableau), fsal_(tableau.is_fsal()) {
  require(tableau.is_consistent(1e-12), "tableau '{}' is not a consistent explicit tableau",
          tableau.name);
}

namespace {
/// The column path writes and reads `rows` scalars per stage through raw pointers: a tape of
/// other rows or fewer than `stages` columns is a clear error, not an overrun (the batched
/// path met it in the field's shape checks).
void require_column_tape(Index tape_rows, Index tape_cols, Index rows, int stages) {
  if (tape_rows != rows || tape_cols < stages) [[unlikely]]
    throw Error(fmt::format("explicit RK step at batch 1: tape is {}×{}; expected {}×{} (state "
                            "rows × stages)",
                            tape_rows, tape_cols, rows, stages));
}
}  // namespace

template <class T>
int ExplicitRK<T>::evals_per_step() const {
  return fsal_ ? tableau_.stages - 1 : tableau_.stages;
}

// stage_input and run_step are inlined into their callers here: passing their Eigen::Refs by
// value through one more call level cost a store-to-load stall per call at batch 1.
template <class T>
[[gnu::always_inline]] inline void ExplicitRK<T>::stage_input(int i, T h,
                                                              const ConstBatchRef<T>& y0,
                                                              const ConstBatchRef<T>& tape,
                                                              Index batch, BatchRef<T> out) const {
  // The zero coefficients are left out (an explicit tableau's rows are mostly zeros).
  std::array<T, kMaxStages> c;
  std::array<stage_sum::Cols<const T>, kMaxStages> k;
  int terms = 0;
  const auto& row = tableau_.a[i];
  const auto stages = stage_sum::cols<T>(tape);
  for (int j = 0; j < i; ++j)
    if (row[j] != 0.0) {
      c[terms] = h * T(row[j]);
      k[terms++] = {stages.col(j * batch), stages.stride};
    }
  stage_sum::combine<T>(stage_sum::cols<T>(y0), c.data(), k.data(), terms, y0.rows(), batch,
                        stage_sum::cols<T>(out));
}

template <class T>
void ExplicitRK<T>::step(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                         const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape,
                         Batch<T>* error, bool first_stage_ready) const {
  run_step(f, t0, t1, x0, theta, x1, tape, error, first_stage_ready, false);
}

template <class T>
void ExplicitRK<T>::step_unchained(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                                   const ConstVectorRef<T>& theta, BatchRef<T> x1, BatchRef<T> tape,
                                   Batch<T>* error) const {
  run_step(f, t0, t1, x0, theta, x1, tape, error, false, fsal_ && error == nullptr);
}

template <class T>
[[gnu::always_inline]] inline void ExplicitRK<T>::run_step(const VectorField<T>& f, T t0, T t1,
                                                           const ConstBatchRef<T>& x0,
                                                           const ConstVectorRef<T>& theta,
                                                           BatchRef<T> x1, BatchRef<T> tape,
                                                           Batch<T>* error, bool first_stage_ready,
                                                           bool skip_fsal_stage) const {
  const Index batch = x0.cols();
  const T h = t1 - t0;
  const int s = tableau_.stages;
  if (batch == 1) {
    require_column_tape(tape.rows(), tape.cols(), x0.rows(), s);
    run_column(f, t0, t1, x0.data(), x0.rows(), theta, x1.data(), tape.data(), tape.outerStride(),
               first_stage_ready, skip_fsal_stage);
    if (error != nullptr && tableau_.has_embedded()) add_error(h, tape, x0.rows(), 1, *error);
    return;
  }
  fit(stage_state_, x0.rows(), batch);
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
    f.eval(stage_time(i, t0, t1), stage_state_, theta, k_i);
  }
  // y1 with the b weights; for FSAL tableaux this equals the last stage input bit for bit, so
  // the carried stage really is f(t1, y1).
  std::array<T, kMaxStages> c;
  std::array<stage_sum::Cols<const T>, kMaxStages> k;
  int terms = 0;
  const auto stages = stage_sum::cols<T>(tape);
  for (int i = 0; i < s; ++i)
    if (tableau_.b[i] != 0.0) {
      c[terms] = h * T(tableau_.b[i]);
      k[terms++] = {stages.col(i * batch), stages.stride};
    }
  stage_sum::combine<T>(stage_sum::cols<T>(x0), c.data(), k.data(), terms, x0.rows(), batch,
                        stage_sum::cols<T>(x1));
  if (error != nullptr && tableau_.has_embedded()) add_error(h, tape, x0.rows(), batch, *error);
}

template <class T>
void ExplicitRK<T>::add_error(T h, const ConstBatchRef<T>& tape, Index rows, Index batch,
                              Batch<T>& error) const {
  error.setZero(rows, batch);
  for (int i = 0; i < tableau_.stages; ++i) {
    const double e = tableau_.error_weight(i);
    if (e != 0.0) error.noalias() += (h * T(e)) * tape.middleCols(i * batch, batch);
  }
}

template <class T>
void ExplicitRK<T>::column_sum(const T* y0, const std::array<double, kMaxStages>& w, int n, T h,
                               const T* tape, Index stride, Index dim, T* out) const {
  if (out != y0)
    for (Index r = 0; r < dim; ++r) out[r] = y0[r];
  for (int j = 0; j < n; ++j)
    if (w[j] != 0.0) {
      const T c = h * T(w[j]);
      const T* k = tape + j * stride;
      for (Index r = 0; r < dim; ++r) out[r] = stage_sum::mul_add(c, k[r], out[r]);
    }
}

template <class T>
void ExplicitRK<T>::step_unchained_column(const VectorField<T>& f, T t0, T t1, const T* x0,
                                          Index dim, const ConstVectorRef<T>& theta, T* x1,
                                          T* tape, Index tape_stride, Batch<T>* error) const {
  run_column(f, t0, t1, x0, dim, theta, x1, tape, tape_stride, false, fsal_ && error == nullptr);
  if (error == nullptr || !tableau_.has_embedded()) return;
  // The batched code's estimate on the same stages (so the same bits).
  const Eigen::Map<const Batch<T>, 0, Eigen::OuterStride<>> stages(
      tape, dim, tableau_.stages, Eigen::OuterStride<>(tape_stride));
  add_error(t1 - t0, stages, dim, 1, *error);
}

template <class T>
void ExplicitRK<T>::run_column(const VectorField<T>& f, T t0, T t1, const T* x0, Index dim,
                               const ConstVectorRef<T>& theta, T* x1, T* tape, Index tape_stride,
                               bool first_stage_ready, bool skip_fsal_stage) const {
  const T h = t1 - t0;
  const int s = tableau_.stages;
  fit(stage_state_, dim, 1);
  T* y = stage_state_.data();
  const int evaluated = skip_fsal_stage ? s - 1 : s;
  for (int i = first_stage_ready ? 1 : 0; i < evaluated; ++i) {
    T* k_i = tape + i * tape_stride;
    if (i == 0) {
      f.eval_column(t0, x0, dim, theta, k_i);
      continue;
    }
    column_sum(x0, tableau_.a[i], i, h, tape, tape_stride, dim, y);
    f.eval_column(stage_time(i, t0, t1), y, dim, theta, k_i);
  }
  column_sum(x0, tableau_.b, s, h, tape, tape_stride, dim, x1);
}

template <class T>
void ExplicitRK<T>::step_vjp_column(const VectorField<T>& f, T t0, T t1, const T* x0, Index dim,
                                    const ConstVectorRef<T>& theta, const T* tape,
                                    Index tape_stride, const T* x1_bar, T* x0_bar,
                                    VectorRef<T> theta_bar) const {
  const T h = t1 - t0;
  const int s = tableau_.stages;
  fit(k_bar_, dim, s);
  fit(stage_state_, dim, 1);
  fit(stage_bar_, dim, 1);
  T *y = stage_state_.data(), *y_bar = stage_bar_.data();
  // As step_vjp: k̄_i = h b_i x̄1 + Σ_{j>i} h a_ji Ȳ_j, x̄0 = x̄1 + Σ_i Ȳ_i.
  std::array<bool, kMaxStages> live{};
  for (int i = 0; i < s; ++i) {
    T* k_bar_i = k_bar_.data() + i * dim;
    live[i] = tableau_.b[i] != 0.0;
    const T c = live[i] ? h * T(tableau_.b[i]) : T(0);
    for (Index r = 0; r < dim; ++r) k_bar_i[r] = live[i] ? c * x1_bar[r] : T(0);
  }
  if (x0_bar != x1_bar)
    for (Index r = 0; r < dim; ++r) x0_bar[r] = x1_bar[r];
  for (int i = s - 1; i >= 0; --i) {
    if (!live[i]) continue;  // e.g. the FSAL stage, which only feeds the next step
    const T* k_bar_i = k_bar_.data() + i * dim;
    if (i == 0) {
      f.vjp_column(t0, x0, dim, theta, k_bar_i, y_bar, theta_bar);
    } else {
      column_sum(x0, tableau_.a[i], i, h, tape, tape_stride, dim, y);
      f.vjp_column(stage_time(i, t0, t1), y, dim, theta, k_bar_i, y_bar, theta_bar);
    }
    for (Index r = 0; r < dim; ++r) x0_bar[r] += y_bar[r];
    for (int j = 0; j < i; ++j) {
      const double a_ij = tableau_.a[i][j];
      if (a_ij == 0.0) continue;
      const T c = h * T(a_ij);
      T* k_bar_j = k_bar_.data() + j * dim;
      for (Index r = 0; r < dim; ++r) k_bar_j[r] = stage_sum::mul_add(c, y_bar[r], k_bar_j[r]);
      live[j] = true;
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
void ExplicitRK<T>::step_vjp(const VectorField<T>& f, T t0, T t1, const ConstBatchRef<T>& x0,
                             const ConstVectorRef<T>& theta, const ConstBatchRef<T>& tape,
                             const ConstBatchRef<T>& x1_bar, BatchRef<T> x0_bar,
                             VectorRef<T> theta_bar) const {
  const Index batch = x0.cols(), dim = x0.rows();
  if (batch == 1) {
    require_column_tape(tape.rows(), tape.cols(), dim, tableau_.stages);
    return step_vjp_column(f, t0, t1, x0.data(), dim, theta, tape.data(), tape.outerStride(),
                           x1_bar.data(), x0_bar.data(), theta_bar);
  }
  const T h = t1 - t0;
  const int s = tableau_.stages;
  // k̄_i = h b_i ȳ1 + Σ_{j>i} h a_ji Ȳ_j, built up as later stages are transposed.
  fit(k_bar_, dim, s * batch);
  const stage_sum::Cols<T> k_bar{k_bar_.data(), dim};
  const auto y1_bar = stage_sum::cols<T>(x1_bar);
  std::array<bool, kMaxStages> live{};
  for (int i = 0; i < s; ++i) {
    live[i] = tableau_.b[i] != 0.0;
    if (live[i]) stage_sum::scale<T>(h * T(tableau_.b[i]), y1_bar, dim, batch, {k_bar.col(i * batch), dim});
    else k_bar_.middleCols(i * batch, batch).setZero();
  }
  const auto y0_bar = stage_sum::cols<T>(x0_bar);
  stage_sum::combine<T>(y1_bar, nullptr, nullptr, 0, dim, batch, y0_bar);  // x̄0 = x̄1
  fit(stage_state_, dim, batch);
  fit(stage_bar_, dim, batch);
  const stage_sum::Cols<const T> y_bar{stage_bar_.data(), dim};
  for (int i = s - 1; i >= 0; --i) {
    if (!live[i]) continue;  // e.g. the FSAL stage, which only feeds the next step
    const T t_i = stage_time(i, t0, t1);
    if (i == 0) {
      f.vjp(t_i, x0, theta, k_bar_.middleCols(0, batch), stage_bar_, theta_bar);
    } else {
      stage_input(i, h, x0, tape, batch, stage_state_);
      f.vjp(t_i, stage_state_, theta, k_bar_.middleCols(i * batch, batch), stage_bar_, theta_bar);
    }
    stage_sum::add<T>(y_bar, dim, batch, y0_bar);
    for (int j = 0; j < i; ++j) {
      const double a_ij = tableau_.a[i][j];
      if (a_ij == 0.0) continue;
      const T c = h * T(a_ij);
      const stage_sum::Cols<T> k_bar_j{k_bar.col(j * batch), dim};
      stage_sum::combine<T>({k_bar_j.data, dim}, &c, &y_bar, 1, dim, batch, k_bar_j);
      live[j] = true;
    }
  }
}

template <class T>
bool ExplicitRK<T>::start_derivative(const ConstBatchRef<T>& tape, Index batch,
                                     BatchRef<T> out) const {
  out = tape.leftCols(batch);
  return true;
}

template class ExplicitRK<float>;
template class ExplicitRK<double>;

}  // namespace revode
