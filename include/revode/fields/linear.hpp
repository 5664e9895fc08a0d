/// The linear field y' = A y with A (dim × dim) as the parameters, and its closed-form solution
/// expm(A t) y0 (Higham 2005 scaling and squaring, via Eigen's MatrixFunctions) for tests.
/// Default A: damped rotations, as in torchdiffeq's spiral demo (rtqichen/torchdiffeq ode_demo).
#pragma once

#include <memory>
#include <string>
#include <type_traits>

#include "revode/core/types.hpp"
#include "revode/core/vector_field.hpp"

namespace revode {

/// The largest dimension of a LinearField: dim² ≤ 2^31 parameters, the MLP's limit.
inline constexpr Index kMaxLinearDim = 46340;

/// y' = A y. θ = A flattened column-major (θ[i + dim·j] = A(i, j)), so param_count = dim².
template <class T>
class LinearField final : public VectorField<T> {
 public:
  /// @throws revode::Error unless 1 ≤ dim ≤ kMaxLinearDim.
  explicit LinearField(Index dim);

  Index state_dim() const override { return dim_; }
  Index param_count() const override { return dim_ * dim_; }
  std::string name() const override;

  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  std::unique_ptr<VectorField<T>> clone() const override;

  /// Block-diagonal damped rotations [[-0.1, ω], [-ω, -0.1]] with ω = 2, 3, 4, …, and -0.1 on
  /// the last diagonal entry when dim is odd: every eigenvalue has real part -0.1, so stable.
  Vector<T> default_params() const;

 private:
  Index dim_;
};

/// expm(A t) y0: the exact solution of y' = A y, y(0) = y0. T is deduced from t alone.
/// @param a_matrix A, dim × dim. @param y0 dim entries. @throws revode::Error on shape mismatch.
template <class T>
Vector<T> linear_exact_solution(const std::type_identity_t<ConstBatchRef<T>>& a_matrix,
                                const std::type_identity_t<ConstVectorRef<T>>& y0, T t);

extern template class LinearField<float>;
extern template class LinearField<double>;
extern template Vector<float> linear_exact_solution<float>(const ConstBatchRef<float>&,
                                                           const ConstVectorRef<float>&, float);
extern template Vector<double> linear_exact_solution<double>(const ConstBatchRef<double>&,
                                                             const ConstVectorRef<double>&, double);

}  // namespace revode
