#include "python_field.hpp"

#include <fmt/format.h>
#include <pybind11/numpy.h>

#include "arrays.hpp"
#include "revode/core/error.hpp"

namespace revode::python {

template <class T>
void PythonField<T>::eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                          BatchRef<T> dy) const {
  py::gil_scoped_acquire gil;
  const PythonCallbacks& cb = *callbacks_;
  const py::object result = cb.f(t, to_numpy<T>(y, false), to_numpy<T>(theta));
  to_batch_into<T>(result, fmt::format("PythonField '{}': f(t, y, theta)", cb.name), dy);
}

template <class T>
void PythonField<T>::vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                         const ConstBatchRef<T>& a, BatchRef<T> y_bar,
                         VectorRef<T> theta_bar) const {
  py::gil_scoped_acquire gil;
  const PythonCallbacks& cb = *callbacks_;
  require(!cb.vjp.is_none(),
          "PythonField '{}' has no vjp: pass vjp=lambda t, y, theta, a: (y_bar, theta_bar) to "
          "use it with revode.gradient",
          cb.name);
  const std::string what = fmt::format("PythonField '{}': vjp(t, y, theta, a)", cb.name);
  const py::object result =
      cb.vjp(t, to_numpy<T>(y, false), to_numpy<T>(theta), to_numpy<T>(a, false));
  if (!py::isinstance<py::tuple>(result) || py::len(result) != 2)
    throw py::type_error(fmt::format("{} returned a {}; expected a tuple (y_bar, theta_bar)", what,
                                     std::string(py::str(py::type::handle_of(result).attr("__name__")))));
  const auto pair = py::reinterpret_borrow<py::tuple>(result);
  to_batch_into<T>(pair[0], what + "[0] (y_bar)", y_bar);
  if (cb.param_count == 0 && pair[1].is_none()) return;
  theta_bar += to_vector<T>(pair[1], what + "[1] (theta_bar)", cb.param_count, false);
}

template class PythonField<float>;
template class PythonField<double>;

}  // namespace revode::python
