/// The parts of the module, one per concept; module.cpp calls them in this order (exceptions
/// first, so every later part's errors translate).
#pragma once

#include <pybind11/pybind11.h>

namespace revode::python {

void bind_errors(pybind11::module_& m);    // errors.cpp: revode.Error, revode.SolveError
void bind_fields(pybind11::module_& m);    // fields.cpp: Field, MLP, PythonField, field(), check_vjp
void bind_cde(pybind11::module_& m);       // cde.cpp: CDE, cde_field()
void bind_solve(pybind11::module_& m);     // solve.cpp: solve(), Solution
void bind_gradient(pybind11::module_& m);  // gradient.cpp: gradient(), Gradient
void bind_optimizers(pybind11::module_& m);  // optimizers.cpp: Adam, clip_global_norm
void bind_trainer(pybind11::module_& m);     // trainer.cpp: datasets, train(), TrainResult
void bind_tape(pybind11::module_& m);        // tape.cpp: GradientTape (revode.torch's engine)
void bind_deq(pybind11::module_& m);         // deq.cpp: DeqTape (revode.torch.deq's engine)
void bind_sde(pybind11::module_& m);         // sde.cpp: SdeField, sde_field()

}  // namespace revode::python
