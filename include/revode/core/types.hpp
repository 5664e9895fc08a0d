/// Array types shared by every layer. A batch of states is a dim × batch column-major block:
/// column j is sample j. Parameters are one flat vector so optimizers see one array.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <type_traits>

namespace revode {

using Index = Eigen::Index;

template <class T>
using Batch = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
template <class T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

/// Writable and read-only views. Functions take views so callers may pass blocks of larger
/// buffers without copies; a view always has unit inner stride. Read-only views are taken by
/// const reference (const ConstBatchRef<T>&), writable ones by value (BatchRef<T>), as Eigen
/// documents: a read-only view passed by value is copied at every call level, and at batch 1
/// that copy reads fields the caller has just written, a store-to-load stall per call
/// (docs/performance.md, "Session 8").
template <class T>
using BatchRef = Eigen::Ref<Batch<T>>;
template <class T>
using ConstBatchRef = Eigen::Ref<const Batch<T>>;
template <class T>
using VectorRef = Eigen::Ref<Vector<T>>;
template <class T>
using ConstVectorRef = Eigen::Ref<const Vector<T>>;

/// A parameter type excluded from template argument deduction, so that the scalar type is
/// deduced from the vector field alone and owned matrices convert to views implicitly.
template <class X>
using NonDeduced = std::type_identity_t<X>;

/// True when every entry is finite (no NaN, no ±Inf).
template <class Derived>
bool all_finite(const Eigen::DenseBase<Derived>& x) {
  return x.allFinite();
}

}  // namespace revode
