/// A vector field wrapper that counts evaluations and VJPs, so every solver and gradient
/// method reports nfe and nvjp without bookkeeping of its own.
#pragma once

#include "revode/core/vector_field.hpp"

namespace revode {

template <class T>
class CountingField final : public VectorField<T> {
 public:
  explicit CountingField(const VectorField<T>& inner) : inner_(inner) {}

  Index state_dim() const override { return inner_.state_dim(); }
  Index param_count() const override { return inner_.param_count(); }
  std::string name() const override { return inner_.name(); }
  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override {
    ++nfe_;
    inner_.eval(t, y, theta, dy);
  }
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override {
    ++nvjp_;
    inner_.vjp(t, y, theta, a, y_bar, theta_bar);
  }
  void eval_column(T t, const T* y, Index rows, const ConstVectorRef<T>& theta,
                   T* dy) const override {
    ++nfe_;
    inner_.eval_column(t, y, rows, theta, dy);
  }
  void vjp_column(T t, const T* y, Index rows, const ConstVectorRef<T>& theta, const T* a,
                  T* y_bar, VectorRef<T> theta_bar) const override {
    ++nvjp_;
    inner_.vjp_column(t, y, rows, theta, a, y_bar, theta_bar);
  }
  Index intermediate_floats(Index batch) const override {
    return inner_.intermediate_floats(batch);
  }
  /// A counting wrapper cannot own a copy of the field it wraps, so its clone is a clone of
  /// the wrapped field (with its own scratch space), uncounted.
  bool column_local() const override { return inner_.column_local(); }
  std::unique_ptr<VectorField<T>> clone() const override { return inner_.clone(); }

  Index nfe() const { return nfe_; }
  /// The wrapped field (the SDE steppers reach the diffusion of an SdeField through it).
  const VectorField<T>& inner() const { return inner_; }
  Index nvjp() const { return nvjp_; }

 private:
  const VectorField<T>& inner_;
  mutable Index nfe_ = 0;
  mutable Index nvjp_ = 0;
};

}  // namespace revode
