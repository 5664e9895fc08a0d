/// A vector field written in Python: f(t, y, theta) -> dy and vjp(t, y, theta, a) ->
/// (y_bar, theta_bar) called back with the GIL held, so it runs through every solver and
/// gradient method unchanged (slower: one Python call and array copies per evaluation).
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "revode/core/vector_field.hpp"

namespace revode::python {

namespace py = pybind11;

/// The Python side of a PythonField, shared by both precisions.
struct PythonCallbacks {
  py::object f;
  py::object vjp;  ///< None: the field has no VJP (solves work, gradients raise)
  std::string name;
  Index state_dim = 0;
  Index param_count = 0;
};

/// y and a are passed as (state_dim, batch) arrays of T, θ as (param_count,), all fresh copies;
/// results are checked for dtype and shape (ValueError/TypeError naming the callback).
template <class T>
class PythonField final : public VectorField<T> {
 public:
  explicit PythonField(std::shared_ptr<const PythonCallbacks> callbacks)
      : callbacks_(std::move(callbacks)) {}

  Index state_dim() const override { return callbacks_->state_dim; }
  Index param_count() const override { return callbacks_->param_count; }
  std::string name() const override { return callbacks_->name; }
  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  std::unique_ptr<VectorField<T>> clone() const override {
    return std::make_unique<PythonField>(callbacks_);
  }

 private:
  std::shared_ptr<const PythonCallbacks> callbacks_;
};

extern template class PythonField<float>;
extern template class PythonField<double>;

}  // namespace revode::python
