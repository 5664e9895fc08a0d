#include "problem.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "python_field.hpp"
#include "revode/core/error.hpp"
#include "revode/gradients/reversible_guard.hpp"
#include "revode/parallel/executor.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/solvers/registry.hpp"
#include "sde_handle.hpp"

namespace revode::python {

using namespace pybind11::literals;

namespace {

StepControl build_control(const ProblemArgs& a) {
  const bool adaptive = a.rtol || a.atol;
  if (a.steps && a.dt)
    throw py::value_error(fmt::format("steps={} and dt={} exclude each other: give one", *a.steps,
                                      *a.dt));
  if (adaptive && (a.steps || a.dt))
    throw py::value_error(
        "steps/dt and rtol/atol exclude each other: give a number of fixed steps (or a step dt) "
        "or tolerances for adaptive steps, not both");
  if (!adaptive) {
    if (a.max_steps || a.dtmin || a.dt0)
      throw py::value_error(
          "max_steps, dtmin and dt0 apply to adaptive steps only; pass rtol/atol or drop them");
    // The CLI's default: 100 fixed steps when nothing says otherwise.
    return FixedSteps{a.dt ? 0 : a.steps.value_or(100), a.dt.value_or(0.0)};
  }
  AdaptiveSteps control;
  control.rtol = a.rtol.value_or(1e-6);
  control.atol = a.atol.value_or(1e-8);
  control.max_steps = a.max_steps.value_or(control.max_steps);
  control.dtmin = a.dtmin.value_or(0.0);
  control.dt0 = a.dt0.value_or(0.0);
  return control;
}

/// Save times and the time span from `ts` (and t0/t1 when given).
void build_times(const FieldHandle& field, const ProblemArgs& a, SaveAt& save_at, double& t0,
                 double& t1) {
  if (py::isinstance<py::str>(a.ts)) {
    const std::string text = a.ts.cast<std::string>();
    if (text != "steps")
      throw py::value_error(fmt::format(
          "ts='{}': expected 'steps' (save t0 and every step endpoint) or an array of save "
          "times",
          text));
    const auto span = field.t_span;
    if ((!a.t0 || !a.t1) && !span)
      throw py::value_error(
          "ts='steps' needs the time span: pass t0= and t1= (this field suggests none)");
    t0 = a.t0.value_or(span ? span->first : 0.0);
    t1 = a.t1.value_or(span ? span->second : 0.0);
    save_at = SaveAt::every_step();
  } else {
    const Vector<double> times = to_vector<double>(a.ts, "ts", -1);
    if (times.size() == 0)
      throw py::value_error("ts is empty; expected the save times, t0 first and t1 last");
    t0 = a.t0.value_or(times[0]);
    t1 = a.t1.value_or(times[times.size() - 1]);
    save_at.ts.assign(times.data(), times.data() + times.size());
  }
  if (!std::isfinite(t0) || !std::isfinite(t1) || t0 == t1)
    throw py::value_error(fmt::format(
        "the time span is t0 = {}, t1 = {}; expected finite and different times (ts gives t0 = "
        "ts[0] and t1 = ts[-1] unless t0= or t1= is passed)",
        t0, t1));
  save_at.dense = a.dense;
  validate(save_at, t0, t1);
}

}  // namespace

Dtype problem_dtype(const FieldHandle&, const ProblemArgs& args) {
  return parse_dtype(args.dtype, args.y0);
}

template <class T>
Problem<T> build_problem(const FieldHandle& field, const ProblemArgs& a) {
  Problem<T> p;
  p.field = &field.get<T>();
  const Index dim = p.field->state_dim();
  if (a.y0.is_none()) {
    if (!field.default_y0)
      throw py::value_error(fmt::format(
          "y0=None but field '{}' has no default initial state; pass y0", p.field->name()));
    p.y0 = Eigen::Map<const Vector<double>>(field.default_y0->data(), dim).template cast<T>();
    p.y0_1d = true;
  } else {
    p.y0 = to_batch<T>(a.y0, "y0", dim, -1, true, &p.y0_1d);
  }
  p.theta = a.params.is_none() ? field.params_as<T>()
                               : to_vector<T>(a.params, "params", p.field->param_count());
  build_times(field, a, p.save_at, p.t0, p.t1);
  p.control = build_control(a);
  validate(p.control);
  // An SDE field's solver first: some SDE solvers ("shark") have no ODE form.
  p.stepper = sde_stepper_or_null<T>(field, a, p);  // sde.cpp
  if (p.stepper == nullptr)
    p.stepper = make_stepper<T>(a.solver, SolverOptions{a.coupling, a.damping});
  // As the CLI's --coupling/--damping: out of (0, 1] is an error whatever the solver, not only
  // for the solvers that use them (which have reported it above; the defaults are in range).
  for (const auto& [name, value] : {std::pair{"coupling", a.coupling}, {"damping", a.damping}})
    require(value > 0 && value <= 1, "{}={}: required a number in (0, 1]", name, value);
  validate_inputs<T>(*p.field, p.y0, p.theta);
  return p;
}

py::dict guard_dict(const GuardStats& g) {
  return py::dict("policy"_a = g.policy, "tolerance"_a = g.tolerance, "drift"_a = g.drift,
                  "repaired"_a = g.repaired, "flagged"_a = g.flagged, "anchors"_a = g.anchors,
                  "segment_steps"_a = g.segment_steps, "segments_inverted"_a = g.segments_inverted,
                  "segments_recomputed"_a = g.segments_recomputed,
                  "y0_cancellation"_a = g.y0_cancellation,
                  "gradient_error_bound"_a = g.gradient_error_bound,
                  "warning"_a = guard_warning(g));
}

Index thread_count(const FieldHandle& field, std::optional<Index> threads) {
  if (threads && *threads < 1)
    throw py::value_error(
        fmt::format("threads={}: expected an integer >= 1 (None: the "
                    "machine's {} cores)",
                    *threads, default_thread_count()));
  if (dynamic_cast<const PythonField<double>*>(field.f64.get()) != nullptr) return 1;
  return threads ? *threads : default_thread_count();
}

ParallelOptions parallel_options(const FieldHandle& field, bool per_sample_steps, Index batch) {
  const bool python_field = dynamic_cast<const PythonField<double>*>(field.f64.get()) != nullptr;
  if (python_field && !per_sample_steps) return {.chunk_columns = std::max<Index>(batch, 1)};
  return {.per_sample_steps = per_sample_steps};
}

py::dict stats_dict(const SolveStats& s) {
  py::dict d("nfe"_a = s.nfe, "nvjp"_a = s.nvjp, "steps"_a = s.steps, "rejected"_a = s.rejected,
             "stored_floats"_a = s.stored_floats, "recomputed_steps"_a = s.recomputed_steps,
             "reconstruction_error"_a = s.reconstruction_error);
  if (s.guard.active) d["guard"] = guard_dict(s.guard);
  if (s.spread.chunks > 0) {
    const ChunkSpread& c = s.spread;
    d["chunks"] = py::dict(
        "count"_a = c.chunks, "steps"_a = py::make_tuple(c.min_steps, c.median_steps, c.max_steps),
        "rejected"_a = py::make_tuple(c.min_rejected, c.median_rejected, c.max_rejected));
  }
  return d;
}

template Problem<float> build_problem<float>(const FieldHandle&, const ProblemArgs&);
template Problem<double> build_problem<double>(const FieldHandle&, const ProblemArgs&);

}  // namespace revode::python
