// revode.solve: integrate a field and return the saved states as NumPy arrays.
#include <fmt/format.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "problem.hpp"
#include "revode/parallel/parallel_gradient.hpp"
#include "revode/solvers/integrate.hpp"

namespace revode::python {

using namespace pybind11::literals;

namespace {

struct SolutionResult {
  py::array ts;     ///< (K,) float64
  py::array ys;     ///< (K, dim) or (K, dim, batch) in the computation's dtype
  py::dict stats;
  std::string solver;
  std::string dtype;
};

py::object solve(const std::shared_ptr<FieldHandle>& field, py::object y0, py::object ts,
                 std::string solver, std::optional<double> rtol, std::optional<double> atol,
                 std::optional<Index> steps, std::optional<double> dt, bool dense, double coupling,
                 double damping, std::optional<Index> max_steps, std::optional<double> dtmin,
                 std::optional<double> dt0, std::optional<double> t0, std::optional<double> t1,
                 py::object dtype, py::object params, std::optional<Index> threads,
                 bool per_sample_steps) {
  const ProblemArgs args{std::move(y0), std::move(ts), std::move(solver), rtol, atol, steps, dt,
                         dense, coupling, damping, max_steps, dtmin, dt0, t0, t1,
                         std::move(dtype), std::move(params)};
  const Dtype d = problem_dtype(require_field(field), args);
  return dispatch_dtype(d, [&]<class T>() -> py::object {
    const Problem<T> p = build_problem<T>(*field, args);
    Executor executor(thread_count(*field, threads));
    ParallelSolution<T> s = without_gil(*field, [&] {
      return parallel_solve<T>(*p.field, *p.stepper, p.control, p.save_at, p.t0, p.t1, p.y0,
                               p.theta, executor,
                               parallel_options(*field, per_sample_steps, p.y0.cols()));
    });
    if (!s.chunks.empty())
      throw py::value_error(
          "per_sample_steps=True with ts='steps': every sample saves at its own step times, "
          "which one array cannot hold; give save times (or use revode.gradient)");
    return py::cast(SolutionResult{to_numpy(s.ts),
                                   to_numpy<T>(s.ys, p.y0.rows(), p.y0.cols(), p.y0_1d),
                                   stats_dict(s.stats), p.stepper->name(),
                                   std::string(dtype_name(d))});
  });
}

}  // namespace

void bind_solve(py::module_& m) {
  py::class_<SolutionResult>(m, "Solution", "What revode.solve returns.")
      .def_readonly("ts", &SolutionResult::ts, "the save times, (K,) float64")
      .def_readonly("ys", &SolutionResult::ys,
                    "the saved states: (K, state_dim) for a 1-D y0, else (K, state_dim, batch)")
      .def_readonly("stats", &SolutionResult::stats,
                    "nfe, nvjp, steps, rejected, stored_floats, recomputed_steps, "
                    "reconstruction_error")
      .def_readonly("solver", &SolutionResult::solver)
      .def_readonly("dtype", &SolutionResult::dtype)
      .def("__repr__", [](const SolutionResult& s) {
        return fmt::format("<revode.Solution {} ({}): ys {}, {} steps>", s.solver, s.dtype,
                           shape_string(s.ys), s.stats["steps"].cast<Index>());
      });

  m.def("solve", &solve, "field"_a, "y0"_a, "ts"_a, REVODE_PYTHON_PROBLEM_KWARGS,
        "threads"_a = py::none(), "per_sample_steps"_a = false,
        R"(Integrates y' = f(t, y; theta) and returns a Solution (ts, ys, stats).

y0: (state_dim,) or (state_dim, batch), float64 or float32; None for the field's default_y0.
ts: the save times (t0 = ts[0], t1 = ts[-1] unless t0=/t1= are given), or "steps" to save t0
    and every step endpoint.
Steps: `steps` (or `dt`) fixed steps, or adaptive with `rtol`/`atol` (and max_steps, dtmin, dt0);
    neither: 100 fixed steps, as the CLI.
dense: reach save times inside steps by Hermite interpolation instead of landing on them.
coupling, damping: the reversible solvers' lambda and eta.
dtype: 'float32' or 'float64' (None: y0's dtype). params: theta to use instead of field.params.
threads, per_sample_steps: as for revode.gradient (docs/parallel.md).
The GIL is released while a built-in field is integrated.)");
}

}  // namespace revode::python
