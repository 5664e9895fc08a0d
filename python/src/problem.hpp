/// The arguments revode.solve and revode.gradient share (field, y0, ts, solver, step control,
/// dtype, params), checked once and turned into a ready-to-run problem: the Python analogue of
/// the CLI's apps/revode/problem_options (same defaults: 100 fixed steps unless steps/dt or
/// rtol/atol are given).
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <optional>
#include <string>

#include "arrays.hpp"
#include "field_handle.hpp"
#include "revode/core/stats.hpp"
#include "revode/parallel/parallel_gradient.hpp"
#include "revode/solvers/save_at.hpp"
#include "revode/solvers/step_control.hpp"
#include "revode/solvers/stepper.hpp"

namespace revode::python {

struct ProblemArgs {
  py::object y0;  ///< None: the field's default_y0
  py::object ts;  ///< save times (t0 = ts[0], t1 = ts[-1] unless given) or "steps"
  std::string solver;
  std::optional<double> rtol, atol;
  std::optional<Index> steps;
  std::optional<double> dt;
  bool dense = false;
  double coupling = 0.999, damping = 1.0;
  std::optional<Index> max_steps;
  std::optional<double> dtmin, dt0;
  std::optional<double> t0, t1;
  py::object dtype;   ///< None: y0's dtype when it is float32, else float64
  py::object params;  ///< None: the field's params
};

/// The keyword arguments of ProblemArgs after (field, y0, ts), for m.def of solve and gradient:
/// one list so that both functions take exactly the same names and defaults.
#define REVODE_PYTHON_PROBLEM_KWARGS                                                          \
  py::arg("solver") = "dopri5", py::arg("rtol") = py::none(), py::arg("atol") = py::none(),   \
      py::arg("steps") = py::none(), py::arg("dt") = py::none(), py::arg("dense") = false,    \
      py::arg("coupling") = 0.999, py::arg("damping") = 1.0,                                  \
      py::arg("max_steps") = py::none(), py::arg("dtmin") = py::none(),                       \
      py::arg("dt0") = py::none(), py::arg("t0") = py::none(), py::arg("t1") = py::none(),    \
      py::arg("dtype") = py::none(), py::arg("params") = py::none()

template <class T>
struct Problem {
  const VectorField<T>* field = nullptr;
  std::unique_ptr<Stepper<T>> stepper;
  StepControl control;
  SaveAt save_at;
  double t0 = 0, t1 = 1;
  Batch<T> y0;      ///< state_dim × batch
  bool y0_1d = false;  ///< y0 was (state_dim,): results drop the batch axis
  Vector<T> theta;
};

/// The dtype the computation runs in.
Dtype problem_dtype(const FieldHandle& field, const ProblemArgs& args);

/// Builds and validates the problem (TypeError/ValueError for arrays and argument combinations,
/// revode.Error for what the library checks: solver names, tolerances, save times).
template <class T>
Problem<T> build_problem(const FieldHandle& field, const ProblemArgs& args);

/// The thread count for threads= (None: the machine's cores; ValueError below 1). A Python-
/// defined field (revode.PythonField) runs on one thread: its callbacks need the GIL, so more
/// threads would only queue for it. The chunking is the same, so the numbers are too.
Index thread_count(const FieldHandle& field, std::optional<Index> threads);

/// The chunking for per_sample_steps=. A Python-defined field runs on one thread whatever the
/// chunking, so with shared steps it is called on the whole batch at once (one callback per
/// evaluation, as before threads existed) instead of once per 64-column chunk.
ParallelOptions parallel_options(const FieldHandle& field, bool per_sample_steps, Index batch);

/// The statistics as a dict with the CLI's JSON keys.
py::dict stats_dict(const SolveStats& stats);
/// The reconstruction guard's report (stats["guard"]) as a dict.
py::dict guard_dict(const GuardStats& guard);

extern template Problem<float> build_problem<float>(const FieldHandle&, const ProblemArgs&);
extern template Problem<double> build_problem<double>(const FieldHandle&, const ProblemArgs&);

}  // namespace revode::python
