// The linear field y' = A y and its matrix-exponential solution.
#include "revode/fields/linear.hpp"

#include <fmt/format.h>

#include <unsupported/Eigen/MatrixFunctions>

#include "revode/core/error.hpp"

namespace revode {
namespace {

template <class T>
using MatrixMap = Eigen::Map<Batch<T>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const Batch<T>>;

}  // namespace

template <class T>
LinearField<T>::LinearField(Index dim) : dim_(dim) {
  require(dim >= 1, "LinearField: dim = {}; required: dim ≥ 1", dim);
  require(dim <= kMaxLinearDim,
          "LinearField: dim = {}; required: dim ≤ {} (A has dim² parameters, at most 2^31)", dim,
          kMaxLinearDim);
}

template <class T>
std::string LinearField<T>::name() const {
  return fmt::format("linear:{}", dim_);
}

template <class T>
void LinearField<T>::eval(T /*t*/, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                          BatchRef<T> dy) const {
  const ConstMatrixMap<T> a_matrix(theta.data(), dim_, dim_);
  dy.noalias() = a_matrix * y;
}

template <class T>
void LinearField<T>::vjp(T /*t*/, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                         const ConstBatchRef<T>& a, BatchRef<T> y_bar,
                         VectorRef<T> theta_bar) const {
  const ConstMatrixMap<T> a_matrix(theta.data(), dim_, dim_);
  MatrixMap<T> a_matrix_bar(theta_bar.data(), dim_, dim_);
  // ∂(A y)/∂A summed over the batch is the outer product a yᵀ; done before y_bar is written.
  a_matrix_bar.noalias() += a * y.transpose();
  y_bar.noalias() = a_matrix.transpose() * a;
}

template <class T>
std::unique_ptr<VectorField<T>> LinearField<T>::clone() const {
  return std::make_unique<LinearField<T>>(*this);
}

template <class T>
Vector<T> LinearField<T>::default_params() const {
  constexpr T damping = T(0.1);
  Batch<T> a_matrix = Batch<T>::Zero(dim_, dim_);
  for (Index i = 0; i + 1 < dim_; i += 2) {
    const T omega = T(2 + i / 2);
    a_matrix(i, i) = a_matrix(i + 1, i + 1) = -damping;
    a_matrix(i, i + 1) = omega;
    a_matrix(i + 1, i) = -omega;
  }
  if (dim_ % 2 == 1) a_matrix(dim_ - 1, dim_ - 1) = -damping;
  return a_matrix.reshaped();
}

template <class T>
Vector<T> linear_exact_solution(const std::type_identity_t<ConstBatchRef<T>>& a_matrix,
                                const std::type_identity_t<ConstVectorRef<T>>& y0, T t) {
  require(a_matrix.rows() == a_matrix.cols() && a_matrix.rows() == y0.size(),
          "linear_exact_solution: A is {} × {} and y0 has {} entries; required: A square with "
          "as many rows as y0",
          a_matrix.rows(), a_matrix.cols(), y0.size());
  const Batch<T> propagator = (a_matrix * t).exp();
  return propagator * y0;
}

template class LinearField<float>;
template class LinearField<double>;
template Vector<float> linear_exact_solution<float>(const ConstBatchRef<float>&,
                                                    const ConstVectorRef<float>&, float);
template Vector<double> linear_exact_solution<double>(const ConstBatchRef<double>&,
                                                      const ConstVectorRef<double>&, double);

}  // namespace revode
