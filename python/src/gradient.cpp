// revode.gradient: a loss on the saved states and its exact gradient with respect to theta and
// y0 from any gradient method; the loss is "mse-zero", an array of data, or a Python callable.
#include <fmt/format.h>
#include <pybind11/stl.h>

#include <cmath>

#include "bindings.hpp"
#include "problem.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/gradients/reversible_guard.hpp"
#include "revode/parallel/parallel_gradient.hpp"

namespace revode::python {

using namespace pybind11::literals;

namespace {

struct GradientOutput {
  double loss = 0;
  py::array grad_params;  ///< (param_count,)
  py::array grad_y0;      ///< shaped like y0
  py::array ts;           ///< the save times reached
  py::dict stats;
  std::string method;
  std::string solver;
  std::string dtype;
};

constexpr const char* loss_forms =
    "'mse-zero', an array of data of shape (K, state_dim) or (K, state_dim, batch) with one row "
    "per save time, or a callable loss(k, t, y) -> (value, dvalue_dy)";

/// Data for MseData: one block per save time, dim × 1 (broadcast) or dim × batch.
template <class T>
std::vector<Batch<T>> data_blocks(py::handle obj, const Problem<T>& p) {
  const py::array data = float_array(obj, "loss data");
  const Index dim = p.y0.rows(), batch = p.y0.cols();
  const bool fits = (data.ndim() == 2 && data.shape(1) == dim) ||
                    (data.ndim() == 3 && data.shape(1) == dim && data.shape(2) == batch);
  if (!fits || data.shape(0) < 1)
    throw py::value_error(fmt::format(
        "loss data has shape {}; expected (K, {}) (broadcast over the batch) or (K, {}, {}) "
        "with K >= 1 rows, one per save time",
        shape_string(data), dim, dim, batch));
  if (!p.save_at.steps && data.shape(0) != py::ssize_t(p.save_at.ts.size()))
    throw py::value_error(fmt::format("loss data has {} rows; expected one per save time ({})",
                                      data.shape(0), p.save_at.ts.size()));
  std::vector<Batch<T>> blocks;
  for (py::ssize_t k = 0; k < data.shape(0); ++k) {
    const py::object row = data[py::int_(k)];
    const std::string what = fmt::format("loss data[{}]", k);
    blocks.push_back(data.ndim() == 2 ? to_batch<T>(row, what, dim, 1, true)
                                      : to_batch<T>(row, what, dim, batch, true));
  }
  return blocks;
}

/// A Python callable as a CallbackLoss (L = Σ_k loss(k, t, y_k)[0]); y is shaped like y0.
template <class T>
std::unique_ptr<Loss<T>> callback_loss(py::object function, bool as_1d) {
  return std::make_unique<CallbackLoss<T>>(
      [function = std::move(function), as_1d](Index k, double t, const ConstBatchRef<T>& y,
                                              BatchRef<T> y_bar) -> double {
        py::gil_scoped_acquire gil;
        const py::object result = function(k, t, to_numpy<T>(y, as_1d));
        if (!py::isinstance<py::tuple>(result) || py::len(result) != 2)
          throw py::type_error(
              "the loss callable returned something other than a tuple (value, dvalue_dy)");
        const auto pair = py::reinterpret_borrow<py::tuple>(result);
        double value = 0;
        try {
          value = pair[0].cast<double>();
        } catch (const py::cast_error&) {
          throw py::type_error("the loss callable's value (first of the tuple) is not a number");
        }
        y_bar = to_batch<T>(pair[1], "the loss callable's dvalue_dy", y.rows(), y.cols(), false);
        return value;
      });
}

template <class T>
std::unique_ptr<Loss<T>> make_loss(const py::object& loss, const Problem<T>& p) {
  if (py::isinstance<py::str>(loss)) {
    if (loss.cast<std::string>() == "mse-zero") return std::make_unique<MseZero<T>>();
    throw py::value_error(
        fmt::format("loss='{}': expected {}", loss.cast<std::string>(), loss_forms));
  }
  if (PyCallable_Check(loss.ptr())) return callback_loss<T>(loss, p.y0_1d);
  if (loss.is_none()) throw py::type_error(fmt::format("loss=None: expected {}", loss_forms));
  return std::make_unique<MseData<T>>(data_blocks<T>(loss, p));
}

py::object gradient(const std::shared_ptr<FieldHandle>& field, py::object y0, py::object ts,
                    py::object loss, const std::string& method, std::string solver,
                    std::optional<double> rtol, std::optional<double> atol,
                    std::optional<Index> steps, std::optional<double> dt, bool dense,
                    double coupling, double damping, std::optional<Index> max_steps,
                    std::optional<double> dtmin, std::optional<double> dt0,
                    std::optional<double> t0, std::optional<double> t1, py::object dtype,
                    py::object params, const std::string& reversible_guard, double guard_tolerance,
                    std::optional<Index> threads, bool per_sample_steps) {
  const ReversibleGuard guard{.policy = parse_guard_policy(reversible_guard),
                              .tolerance = guard_tolerance};
  guard.validate();
  const ProblemArgs args{std::move(y0), std::move(ts), std::move(solver), rtol, atol, steps, dt,
                         dense, coupling, damping, max_steps, dtmin, dt0, t0, t1,
                         std::move(dtype), std::move(params)};
  const Dtype d = problem_dtype(require_field(field), args);
  return dispatch_dtype(d, [&]<class T>() -> py::object {
    const Problem<T> p = build_problem<T>(*field, args);
    const auto gradient_method = make_gradient_method<T>(method, guard);
    const std::unique_ptr<Loss<T>> loss_function = make_loss<T>(loss, p);
    const GradientProblem<T> problem{*p.field, *p.stepper, p.control, p.save_at, p.t0,
                                     p.t1,     p.y0,       p.theta,   *loss_function};
    Executor executor(thread_count(*field, threads));
    const GradientResult<T> r = without_gil(*field, [&] {
      return parallel_gradient(*gradient_method, problem, executor,
                               parallel_options(*field, per_sample_steps, problem.y0.cols()));
    });
    // As the CLI: a finite loss is no guarantee of a finite gradient.
    require(std::isfinite(r.loss),
            "the loss is {}: the saved states overflow when squared in {}; use float64 or a "
            "smaller y0, time span or parameters",
            r.loss, dtype_name(d));
    require(all_finite(r.grad_params) && all_finite(r.grad_y0),
            "the gradient contains NaN or Inf (the loss is {}): the backward pass overflowed in {}",
            r.loss, dtype_name(d));
    if (r.stats.guard.flagged)
      PyErr_WarnEx(PyExc_RuntimeWarning,
                   guard_warning(r.stats.guard).c_str(), 1);
    py::dict stats = stats_dict(r.stats);
    if (!r.chunk_stats.empty()) {
      py::list steps, rejected;
      for (const SolveStats& c : r.chunk_stats) {
        steps.append(c.steps);
        rejected.append(c.rejected);
      }
      stats["chunk_steps"] = steps;
      stats["chunk_rejected"] = rejected;
    }
    return py::cast(GradientOutput{
        r.loss, to_numpy<T>(r.grad_params), to_numpy<T>(r.grad_y0, p.y0_1d), to_numpy(r.ts), stats,
        gradient_method->name(), p.stepper->name(), std::string(dtype_name(d))});
  });
}

}  // namespace

void bind_gradient(py::module_& m) {
  py::class_<GradientOutput>(m, "Gradient", "What revode.gradient returns.")
      .def_readonly("loss", &GradientOutput::loss)
      .def_readonly("grad_params", &GradientOutput::grad_params, "dL/dtheta, (param_count,)")
      .def_readonly("grad_y0", &GradientOutput::grad_y0, "dL/dy0, shaped like y0")
      .def_readonly("ts", &GradientOutput::ts, "the save times reached")
      .def_readonly("stats", &GradientOutput::stats)
      .def_readonly("method", &GradientOutput::method)
      .def_readonly("solver", &GradientOutput::solver)
      .def_readonly("dtype", &GradientOutput::dtype)
      .def("__repr__", [](const GradientOutput& g) {
        return fmt::format("<revode.Gradient {} with {} ({}): loss {:.10g}>", g.method, g.solver,
                           g.dtype, g.loss);
      });

  m.def("gradient", &gradient, "field"_a, "y0"_a, "ts"_a, "loss"_a = "mse-zero",
        "method"_a = "backprop", REVODE_PYTHON_PROBLEM_KWARGS, "reversible_guard"_a = "repair",
        "guard_tolerance"_a = 0.0, "threads"_a = py::none(), "per_sample_steps"_a = false,
        R"(The loss on the saved states and its exact gradient; returns a Gradient
(loss, grad_params, grad_y0, ts, stats).

loss: "mse-zero" (mean square of the saved states, 1/(K dim batch) sum_k |y_k|^2), an array of
    data (K, state_dim) broadcast over the batch or (K, state_dim, batch) for the mean squared
    error, or a callable loss(k, t, y) -> (value, dvalue_dy) summed over the save times (y shaped
    like y0).
method: a gradient method (revode.methods()): backprop, reversible, anode, checkpoint:C,
    symplectic, adjoint[:rtol=R,atol=A,seminorm].
reversible_guard: what method="reversible" does when its backward reconstruction drifts beyond
    guard_tolerance (the relative drift times ȳ0's cancellation,
    stats["guard"]["y0_cancellation"]; 0: 1e-10 in float64, 1e-4 in float32): "repair"
    (default: recompute the
    drifting segments, exact), "error" (raise revode.Error) or "warn" (return it with
    stats["guard"]["flagged"] and a RuntimeWarning).
threads: threads splitting the batch into chunks of 64 samples (None: the machine's cores); the
    GIL is released and the results are bit-identical for every count. A revode.PythonField
    runs on one thread (its callbacks need the GIL). See docs/parallel.md.
per_sample_steps: every sample its own adaptive step sizes (stats["chunk_steps"] per sample,
    stats["chunks"] the min/median/max); needs a per-sample loss (not a callable).
Every other argument is as for revode.solve.)");
}

}  // namespace revode::python
