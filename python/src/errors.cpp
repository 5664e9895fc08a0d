// revode::Error → revode.Error (a ValueError: nearly every revode error is a bad input), and
// revode::SolveError → revode.SolveError (also a RuntimeError) with `status` and `t_reached`.
#include <Python.h>

#include "bindings.hpp"
#include "revode/core/status.hpp"

namespace revode::python {

namespace py = pybind11;

namespace {

std::string_view status_name(Status status) {
  switch (status) {
    case Status::success:
      return "success";
    case Status::max_steps_reached:
      return "max_steps_reached";
    case Status::step_size_underflow:
      return "step_size_underflow";
    case Status::non_finite_state:
      return "non_finite_state";
  }
  return "unknown";
}

PyObject* error_type = nullptr;
PyObject* solve_error_type = nullptr;

}  // namespace

void bind_errors(py::module_& m) {
  error_type = PyErr_NewExceptionWithDoc(
      "revode.Error",
      "Every error revode itself reports (a bad option, an unknown name, a failed solve); the "
      "message names the value and what was expected.",
      PyExc_ValueError, nullptr);
  const py::tuple bases = py::make_tuple(py::handle(error_type), py::handle(PyExc_RuntimeError));
  solve_error_type = PyErr_NewExceptionWithDoc(
      "revode.SolveError",
      "A solve that could not reach t1; `status` names why (max_steps_reached, "
      "step_size_underflow, non_finite_state) and `t_reached` is the last time reached.",
      bases.ptr(), nullptr);
  if (error_type == nullptr || solve_error_type == nullptr) throw py::error_already_set();
  m.attr("Error") = py::handle(error_type);
  m.attr("SolveError") = py::handle(solve_error_type);

  py::register_exception_translator([](std::exception_ptr thrown) {
    try {
      if (thrown) std::rethrow_exception(thrown);
    } catch (const SolveError& e) {
      py::object instance = py::handle(solve_error_type)(e.what());
      instance.attr("status") = std::string(status_name(e.status()));
      instance.attr("t_reached") = e.t_reached();
      PyErr_SetObject(solve_error_type, instance.ptr());
    } catch (const Error& e) {
      PyErr_SetString(error_type, e.what());
    }
  });
}

}  // namespace revode::python
