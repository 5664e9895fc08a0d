// The extension module revode._core; the package python/revode/__init__.py re-exports it.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/solvers/registry.hpp"

PYBIND11_MODULE(_core, m) {
  namespace py = pybind11;
  m.doc() = "revode: neural ODEs with exact gradients in near-constant memory (C++ core)";
  m.attr("__version__") = REVODE_VERSION;
  revode::python::bind_errors(m);
  revode::python::bind_fields(m);
  revode::python::bind_cde(m);
  revode::python::bind_solve(m);
  revode::python::bind_gradient(m);
  revode::python::bind_optimizers(m);
  revode::python::bind_trainer(m);
  revode::python::bind_tape(m);
  revode::python::bind_deq(m);
  revode::python::bind_sde(m);
  m.def("solvers", &revode::solver_names, "Every solver name revode.solve accepts.");
  m.def("methods", &revode::gradient_method_names,
        "Every gradient method revode.gradient accepts (C and R, A are arguments).");
}
