// Training from Python: the built-in datasets (and CSV files) and revode.train, which runs the
// library's Trainer (include/revode/train/trainer.hpp) with the GIL released, calling a Python
// progress callable after each iteration.
#include "revode/train/trainer.hpp"

#include <fmt/format.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <utility>

#include "arrays.hpp"
#include "bindings.hpp"
#include "field_handle.hpp"
#include "problem.hpp"
#include "revode/cde/cde_spec.hpp"
#include "revode/core/error.hpp"
#include "revode/train/cde_train_field.hpp"
#include "revode/train/checkpoint.hpp"
#include "revode/train/dataset.hpp"

namespace revode::python {

using namespace pybind11::literals;

namespace {

py::object json_loads(const std::string& text) {
  return py::module_::import("json").attr("loads")(text);
}

/// (K, dim): time-major, as NumPy users index trajectories (the library keeps dim × K).
py::array_t<double> time_major(const Batch<double>& states) {
  py::array_t<double> out({states.cols(), states.rows()});
  auto view = out.mutable_unchecked<2>();
  for (Index k = 0; k < states.cols(); ++k)
    for (Index i = 0; i < states.rows(); ++i) view(k, i) = states(i, k);
  return out;
}

/// The states in revode.solve's layout: (K, dim) for one trajectory, (K, dim, N) for N, so
/// that states[0] is the y0 of revode.solve / revode.gradient and the whole array is the data
/// of their loss= (the library keeps dim × (N·K), trajectory after trajectory).
py::array_t<double> states_array(const Dataset& d) {
  const Index n = d.trajectories(), points = d.points(), dim = d.dim();
  if (n == 1) return time_major(d.states);
  py::array_t<double> out({points, dim, n});
  auto view = out.mutable_unchecked<3>();
  for (Index j = 0; j < n; ++j)
    for (Index k = 0; k < points; ++k)
      for (Index i = 0; i < dim; ++i) view(k, i, j) = d.states(i, j * points + k);
  return out;
}

/// revode.Dataset(times, states, columns=, name=): states (K, dim) or (K, dim, N), as
/// states_array returns them; the values are checked by array_dataset.
Dataset dataset_from_arrays(py::handle times_arg, py::handle states_arg,
                            std::optional<std::vector<std::string>> columns, std::string name) {
  const Vector<double> t = to_vector<double>(times_arg, "times", -1, /*check_finite=*/false);
  const Index points = t.size();
  const py::array array = float_array(states_arg, "states");
  if ((array.ndim() != 2 && array.ndim() != 3) || array.shape(0) != points)
    throw py::value_error(fmt::format(
        "states has shape {}; expected (K, dim) for one trajectory or (K, dim, N) for N, with "
        "K = {} (the number of times)",
        shape_string(array), points));
  const auto typed = py::array_t<double, py::array::forcecast>::ensure(array);
  const bool one = array.ndim() == 2;
  const Index dim = Index(array.shape(1)), n = one ? 1 : Index(array.shape(2));
  if (n < 1 || dim < 1)
    throw py::value_error(
        fmt::format("states has shape {}; expected at least one trajectory and one component",
                    shape_string(array)));
  Batch<double> states(dim, n * points);
  if (one) {
    const auto view = typed.unchecked<2>();
    for (Index k = 0; k < points; ++k)
      for (Index i = 0; i < dim; ++i) states(i, k) = view(k, i);
  } else {
    const auto view = typed.unchecked<3>();
    for (Index j = 0; j < n; ++j)
      for (Index k = 0; k < points; ++k)
        for (Index i = 0; i < dim; ++i) states(i, j * points + k) = view(k, i, j);
  }
  return array_dataset(std::move(name), columns.value_or(std::vector<std::string>{}),
                       {t.data(), t.data() + points}, std::move(states));
}

struct TrainOutput {
  py::array params;  ///< θ after training
  py::array losses;  ///< the loss of every iteration, before its update
  double best_loss = 0;
  Index best_iteration = 0;
  Index iterations = 0;  ///< completed
  py::array times;       ///< the data times (K,)
  py::array prediction;  ///< the trained model's trajectory at the data times (K, dim)
  py::object model;      ///< a revode.MLP holding the trained θ (None for a field="cde:..." CDE)
  py::dict stats;        ///< of the last gradient
  py::object settings;   ///< every setting as run (dict)
  std::string solver;
};

Dataset dataset_of(py::handle dataset) {
  if (py::isinstance<Dataset>(dataset)) return dataset.cast<Dataset>();
  if (py::isinstance<py::str>(dataset)) return make_dataset(dataset.cast<std::string>());
  throw py::type_error(
      fmt::format("dataset must be a name ({}), a CSV path or a revode.Dataset, not a {}",
                  fmt::join(dataset_names(), ", "),
                  std::string(py::str(py::type::handle_of(dataset).attr("__name__")))));
}

/// The keyword arguments as the JSON text of a config file. JSON has no NaN or Inf, and
/// json.dumps would write them as invalid JSON, so they are refused here by key.
std::string settings_json(const py::kwargs& kwargs) {
  for (const auto& [key, value] : kwargs)
    if (py::isinstance<py::float_>(value) && !std::isfinite(value.cast<double>()))
      throw Error(fmt::format("revode.train keyword arguments: '{}': {} is not a finite number",
                              std::string(py::str(key)), value.cast<double>()));
  try {
    return py::module_::import("json")
        .attr("dumps")(kwargs, "allow_nan"_a = false)
        .cast<std::string>();
  } catch (const py::error_already_set& e) {  // a value JSON cannot hold (an object, a NumPy int)
    throw py::type_error(fmt::format(
        "revode.train keyword arguments: {}; expected numbers, strings, booleans, lists or None",
        std::string(py::str(e.value()))));
  }
}

py::object train(py::handle dataset_arg, py::object progress, std::optional<std::string> checkpoint,
                 Index checkpoint_every, std::optional<std::string> resume_from,
                 const py::kwargs& settings_kwargs) {
  if (!progress.is_none() && !PyCallable_Check(progress.ptr()))
    throw py::type_error("progress must be None or callable as progress(dict)");
  const CheckpointOptions checkpoint_options{checkpoint.value_or(""), checkpoint_every};
  validate(checkpoint_options);  // before the data and the model are built
  Dataset dataset = dataset_of(dataset_arg);
  std::optional<Checkpoint> saved;
  if (resume_from) saved = load_checkpoint(*resume_from);
  TrainSettings settings = saved ? saved->settings : dataset.suggested;
  if (py::len(settings_kwargs) > 0) {
    settings = apply_settings_json(settings, settings_json(settings_kwargs),
                                   "revode.train keyword arguments");
  }
  // field="cde:FILE,...": the CDE over the file's paths, built as `revode train --field` builds
  // it. Other fields (torchscript:) are loaded by the CLI only: the Trainer names them.
  TrainField field;
  if (is_cde_field(settings.field)) field = cde_train_field(settings, dataset);
  auto trainer = std::make_unique<Trainer>(std::move(dataset), std::move(settings), nullptr, 0,
                                           std::move(field));
  if (saved) resume(*trainer, *saved, *resume_from);

  ProgressCallback callback;
  if (!progress.is_none())
    callback = [&progress](const TrainProgress& p) {
      py::gil_scoped_acquire gil;
      progress(py::dict("iteration"_a = p.iteration, "iterations"_a = p.iterations,
                        "loss"_a = p.loss, "best_loss"_a = p.best_loss, "lr"_a = p.lr,
                        "grad_norm"_a = p.grad_norm, "seconds"_a = p.seconds));
    };
  {
    py::gil_scoped_release release;
    trainer->run(callback, checkpoint_options);
  }

  const TrainSettings& s = trainer->settings();
  // An SDE's θ is [θ_f; θ_g] (settings "diffusion"): the MLP is the drift and holds θ_f. A CDE
  // (settings "field") has no MLP model: its θ is params.
  py::object model = py::none();
  if (s.field.empty()) {
    auto mlp = make_mlp_handle(s.model, init_name(s.init), s.seed);
    mlp->params = trainer->params().head(trainer->model().param_count());
    model = py::cast(mlp);
  }
  return py::cast(TrainOutput{to_numpy<double>(trainer->params()), to_numpy(trainer->losses()),
                              trainer->best_loss(), trainer->best_iteration(), trainer->iteration(),
                              to_numpy(trainer->dataset().times), time_major(trainer->predict()),
                              model, stats_dict(trainer->last_stats()),
                              json_loads(settings_to_json(s)), trainer->solver_name()});
}

}  // namespace

void bind_trainer(py::module_& m) {
  py::class_<Dataset>(m, "Dataset", R"(Trajectories to fit, sampled at the same K times.

times (K,); states (K, state_dim) for one trajectory, (K, state_dim, trajectories) for
several: the layout of revode.solve's ys, so states[0] is the y0 and states the loss data of
revode.gradient; trajectory(n) is one trajectory's (K, state_dim). suggested: the settings of
its published experiment (generic ones for a CSV file or arrays).

Dataset(times, states, columns=None, name="arrays") makes one from arrays (states shaped as
above; columns: one name per component, default y1, y2, ...); revode.dataset(name) loads a
built-in one, ensemble:FIELD:N[:SEED], or a CSV file (one trajectory, or many with a
trajectory,t,... header).)")
      .def(py::init(&dataset_from_arrays), "times"_a, "states"_a, py::kw_only(),
           "columns"_a = py::none(), "name"_a = "arrays")
      .def_readonly("name", &Dataset::name)
      .def_readonly("columns", &Dataset::columns)
      .def_property_readonly("times", [](const Dataset& d) { return to_numpy(d.times); })
      .def_property_readonly("states", &states_array)
      .def_property_readonly("state_dim", &Dataset::dim)
      .def_property_readonly("points", &Dataset::points, "K, the number of times")
      .def_property_readonly("trajectories", &Dataset::trajectories, "N")
      .def(
          "trajectory",
          [](const Dataset& d, Index n) {
            if (n < 0 || n >= d.trajectories())
              throw py::index_error(fmt::format("trajectory {}; dataset '{}' has 0 … {}", n, d.name,
                                                d.trajectories() - 1));
            return time_major(d.trajectory(n));
          },
          "n"_a, "Trajectory n's states at the times, (K, state_dim).")
      .def_property_readonly(
          "suggested", [](const Dataset& d) { return json_loads(settings_to_json(d.suggested)); })
      .def_property_readonly("fingerprint", &Dataset::fingerprint)
      .def("__repr__", [](const Dataset& d) {
        return fmt::format("<revode.Dataset {}: {} {} × {} points of {}>", d.name, d.trajectories(),
                           d.trajectories() == 1 ? "trajectory" : "trajectories", d.points(),
                           fmt::join(d.columns, ", "));
      });
  m.def("datasets", &dataset_names,
        "The built-in dataset names (also: ensemble:FIELD:N[:SEED] and CSV paths).");
  m.def(
      "dataset", [](const std::string& name) { return make_dataset(name); }, "name"_a,
      R"(A built-in dataset (revode.datasets()), a generated ensemble "ensemble:FIELD:N" or
"ensemble:FIELD:N:SEED" (N trajectories of an analytic field from random initial states), or a
CSV file: a header row, then t, state... per row, or trajectory,t,state... for many
trajectories (all on the same times).)");

  py::class_<TrainOutput>(m, "TrainResult", "What revode.train returns.")
      .def_readonly("params", &TrainOutput::params)
      .def_readonly("losses", &TrainOutput::losses)
      .def_readonly("best_loss", &TrainOutput::best_loss)
      .def_readonly("best_iteration", &TrainOutput::best_iteration)
      .def_readonly("iterations", &TrainOutput::iterations)
      .def_readonly("times", &TrainOutput::times)
      .def_readonly("prediction", &TrainOutput::prediction,
                    "the trained model's trajectory from the dataset's first trajectory's y0 at "
                    "the data times, (K, state_dim)")
      .def_readonly("model", &TrainOutput::model,
                    "a revode.MLP holding the trained params (the SDE's drift with diffusion=; "
                    "None for a CDE, field=\"cde:...\")")
      .def_readonly("stats", &TrainOutput::stats)
      .def_readonly("settings", &TrainOutput::settings)
      .def_readonly("solver", &TrainOutput::solver)
      .def("__repr__", [](const TrainOutput& t) {
        return fmt::format("<revode.TrainResult {} iterations with {}: best loss {:.6g} at {}>",
                           t.iterations, t.solver, t.best_loss, t.best_iteration);
      });

  m.def(
      "train", &train, "dataset"_a, py::kw_only(), "progress"_a = py::none(),
      "checkpoint"_a = py::none(), "checkpoint_every"_a = 0, "resume"_a = py::none(),
      R"(Fits an MLP field (or an SDE, or a CDE) to a dataset with the library's trainer and returns a TrainResult.

dataset: a name (revode.datasets()), a CSV path, or a revode.Dataset.
Settings: the dataset's suggested ones, overridden by keyword arguments with the keys of
    docs/training.md: widths, activation, time_input, init, solver, coupling, steps | dt |
    rtol, atol, max_steps, dense, method, optimizer, lr, weight_decay, beta1, beta2, eps,
    schedule, final_lr, clip (None: no clipping), iterations, seed; diffusion, noise,
    brownian_seed (an SDE: drift and diffusion trained); field="cde:FILE[,hidden=H,...]" (a
    neural CDE over the file's observations, one sample per trajectory: its network trained,
    as `revode train --field cde:...`; docs/training.md "CDEs").
progress: called after each iteration with a dict (iteration, iterations, loss, best_loss, lr,
    grad_norm, seconds).
checkpoint, checkpoint_every: write a resumable checkpoint there every N iterations and at the
    end; resume: continue from a checkpoint (same settings and data).
The GIL is released while training, except during progress calls.)");
}

}  // namespace revode::python
