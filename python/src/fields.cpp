// revode.Field and its kinds: MLP, the analytic fields (revode.field(name)), and PythonField;
// evaluation and VJP of any of them from Python, and revode.check_vjp.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>

#include "arrays.hpp"
#include "bindings.hpp"
#include "field_handle.hpp"
#include "python_field.hpp"
#include "revode/core/check_vjp.hpp"
#include "revode/core/error.hpp"
#include "revode/core/random.hpp"
#include "revode/fields/linear.hpp"
#include "revode/fields/registry.hpp"

namespace revode::python {

using namespace pybind11::literals;

namespace {

struct PythonFieldHandle final : FieldHandle {
  std::shared_ptr<const PythonCallbacks> callbacks;
};

Init parse_init(const std::string& name) {
  if (name == "pytorch") return Init::pytorch_default;
  if (name == "glorot") return Init::glorot;
  throw py::value_error(fmt::format("init='{}': expected 'pytorch' or 'glorot'", name));
}

std::shared_ptr<MlpHandle> make_mlp(const std::vector<Index>& widths, const std::string& activation,
                                    std::uint64_t seed, bool time_input, const std::string& init) {
  return make_mlp_handle(MlpSpec{widths, parse_activation(activation), time_input}, init, seed);
}

std::shared_ptr<FieldHandle> make_analytic(const std::string& name, std::optional<Index> dim) {
  const AnalyticFieldInfo& info = analytic_field_info(name);
  auto h = std::make_shared<FieldHandle>();
  h->t_span = std::pair{info.t0, info.t1};
  h->description = std::string(info.description);
  if (dim.has_value()) {
    if (name != "linear")
      throw py::value_error(fmt::format("dim={} applies to the 'linear' field only, not '{}'",
                                        *dim, name));
    auto linear = std::make_unique<LinearField<double>>(*dim);  // checks dim >= 1
    h->params = linear->default_params();
    h->f64 = std::move(linear);
    h->f32 = std::make_unique<LinearField<float>>(*dim);
    if (Index(info.default_y0.size()) == *dim) h->default_y0 = info.default_y0;
    return h;
  }
  h->f64 = make_analytic_field<double>(name);
  h->f32 = make_analytic_field<float>(name);
  h->params = Eigen::Map<const Vector<double>>(info.default_params.data(),
                                               Index(info.default_params.size()));
  h->default_y0 = info.default_y0;
  return h;
}

std::shared_ptr<PythonFieldHandle> make_python_field(Index state_dim, py::object f, py::object vjp,
                                                     py::object params, const std::string& name) {
  if (state_dim < 1)
    throw py::value_error(fmt::format("PythonField: state_dim = {}; expected >= 1", state_dim));
  if (!PyCallable_Check(f.ptr()))
    throw py::type_error("PythonField: f must be callable as f(t, y, theta) -> dy");
  if (!vjp.is_none() && !PyCallable_Check(vjp.ptr()))
    throw py::type_error(
        "PythonField: vjp must be None or callable as vjp(t, y, theta, a) -> (y_bar, theta_bar)");
  auto h = std::make_shared<PythonFieldHandle>();
  if (!params.is_none()) h->params = to_vector<double>(params, "PythonField params", -1);
  auto callbacks = std::make_shared<PythonCallbacks>();
  callbacks->f = std::move(f);
  callbacks->vjp = std::move(vjp);
  callbacks->name = name;
  callbacks->state_dim = state_dim;
  callbacks->param_count = h->params.size();
  h->callbacks = callbacks;
  h->f64 = std::make_unique<PythonField<double>>(callbacks);
  h->f32 = std::make_unique<PythonField<float>>(callbacks);
  h->description = fmt::format("Python-defined field '{}'", name);
  return h;
}

template <class T>
Vector<T> params_or_override(const FieldHandle& h, py::handle params) {
  if (!params.is_none()) return to_vector<T>(params, "params", h.f64->param_count());
  // The writable view lets NaN in without the setter's check.
  for (Index i = 0; i < h.params.size(); ++i)
    if (!std::isfinite(h.params[i]))
      throw py::value_error(
          fmt::format("field.params entry [{}] is {}; expected finite values", i, h.params[i]));
  return h.params_as<T>();
}

/// A NaN or infinite t would reach a time-dependent field as it is and come back as NaN.
void check_time(double t, std::string_view call) {
  if (!std::isfinite(t))
    throw py::value_error(fmt::format("{}: t = {}; expected a finite time", call, t));
}

/// "[0.3, 0.3, …] (12 entries)": enough of what was evaluated to find it again.
template <class T>
std::string brief(const Batch<T>& y) {
  constexpr Index shown = 6;
  std::vector<double> head;
  for (Index k = 0; k < std::min(y.size(), shown); ++k) head.push_back(double(y.data()[k]));
  return fmt::format("[{:.6g}{}] ({} entries)", fmt::join(head, ", "),
                     y.size() > shown ? ", …" : "", y.size());
}

/// A field's output must be finite: NaN or Inf here means the state, θ or t lies outside the
/// field's domain (overlapping atoms, a collision, an overflow). Reported with where it was
/// evaluated rather than handed back as NaN.
template <class T, class Out>
void check_output(const FieldHandle& h, std::string_view call, double t, const Batch<T>& y,
                  const Out& out, std::string_view name, bool as_1d) {
  for (Index j = 0; j < out.cols(); ++j)
    for (Index i = 0; i < out.rows(); ++i)
      if (!std::isfinite(out(i, j)))
        throw Error(fmt::format(
            "field '{}': {} at t = {} gives {}{} = {} in {} for y = {}: y, the parameters or t "
            "lie outside the field's domain, or the result overflows",
            h.f64->name(), call, t, name,
            as_1d || out.cols() == 1 ? fmt::format("[{}]", i) : fmt::format("[{}, {}]", i, j),
            double(out(i, j)), dtype_name(dtype_of<T>()), brief(y)));
}

py::object eval(const FieldHandle& h, double t, py::handle y, py::handle params) {
  check_time(t, "Field.eval");
  return dispatch_dtype(parse_dtype(py::none(), y), [&]<class T>() -> py::object {
    bool was_1d = false;
    const Batch<T> yb = to_batch<T>(y, "y", h.f64->state_dim(), -1, true, &was_1d);
    const Vector<T> theta = params_or_override<T>(h, params);
    Batch<T> dy(yb.rows(), yb.cols());
    without_gil(h, [&] { h.get<T>().eval(T(t), yb, theta, dy); });
    check_output(h, "eval", t, yb, dy, "dy", was_1d);
    return to_numpy<T>(dy, was_1d);
  });
}

py::object vjp(const FieldHandle& h, double t, py::handle y, py::handle a, py::handle params) {
  check_time(t, "Field.vjp");
  return dispatch_dtype(parse_dtype(py::none(), y), [&]<class T>() -> py::object {
    bool was_1d = false;
    const Batch<T> yb = to_batch<T>(y, "y", h.f64->state_dim(), -1, true, &was_1d);
    const Batch<T> ab = to_batch<T>(a, "a", yb.rows(), yb.cols(), true);
    const Vector<T> theta = params_or_override<T>(h, params);
    Batch<T> y_bar(yb.rows(), yb.cols());
    Vector<T> theta_bar = Vector<T>::Zero(theta.size());
    without_gil(h, [&] { h.get<T>().vjp(T(t), yb, theta, ab, y_bar, theta_bar); });
    check_output(h, "vjp", t, yb, y_bar, "y_bar", was_1d);
    check_output(h, "vjp", t, yb, theta_bar, "theta_bar", true);
    return py::make_tuple(to_numpy<T>(y_bar, was_1d), to_numpy<T>(theta_bar));
  });
}

py::dict check(const FieldHandle& h, double t, py::handle y, py::handle params, int directions,
               std::uint64_t seed, double step) {
  return dispatch_dtype(parse_dtype(py::none(), y), [&]<class T>() -> py::dict {
    const Batch<T> yb = to_batch<T>(y, "y", h.f64->state_dim(), -1, true);
    const Vector<T> theta = params_or_override<T>(h, params);
    const VjpCheckOptions options{step, directions, seed};
    const VjpCheckReport report =
        without_gil(h, [&] { return check_vjp<T>(h.get<T>(), T(t), yb, theta, options); });
    if (!std::isfinite(report.max_relative_error_y) ||
        !std::isfinite(report.max_relative_error_theta)) {
      // Say which output is not finite at (t, y) when one is; else the perturbed points are.
      Batch<T> dy(yb.rows(), yb.cols()), y_bar(yb.rows(), yb.cols());
      Vector<T> theta_bar = Vector<T>::Zero(theta.size());
      const Batch<T> ones = Batch<T>::Ones(yb.rows(), yb.cols());
      without_gil(h, [&] {
        h.get<T>().eval(T(t), yb, theta, dy);
        h.get<T>().vjp(T(t), yb, theta, ones, y_bar, theta_bar);
      });
      check_output(h, "eval", t, yb, dy, "dy", false);
      check_output(h, "vjp", t, yb, y_bar, "y_bar", false);
      check_output(h, "vjp", t, yb, theta_bar, "theta_bar", true);
      throw Error(report.message);
    }
    return py::dict("max_relative_error_y"_a = report.max_relative_error_y,
                    "max_relative_error_theta"_a = report.max_relative_error_theta,
                    "message"_a = report.message);
  });
}

py::object optional_array(const std::optional<std::vector<double>>& values) {
  if (!values) return py::none();
  return to_numpy(*values);
}

}  // namespace

std::string init_name(Init init) { return init == Init::glorot ? "glorot" : "pytorch"; }

std::shared_ptr<MlpHandle> make_mlp_handle(const MlpSpec& spec, const std::string& init,
                                           std::uint64_t seed) {
  validate(spec);
  auto h = std::make_shared<MlpHandle>();
  h->spec = spec;
  h->init = init;
  h->seed = seed;
  auto mlp = std::make_unique<Mlp<double>>(spec);
  h->params = mlp->init_params(parse_init(init), seed);
  h->f64 = std::move(mlp);
  h->f32 = std::make_unique<Mlp<float>>(spec);
  h->default_y0 = standard_normal(seed, spec.widths.front());
  h->description = fmt::format("{}, {} initialisation, seed {}", h->f64->name(), init, seed);
  return h;
}

void bind_fields(py::module_& m) {
  py::class_<FieldHandle, std::shared_ptr<FieldHandle>>(
      m, "Field",
      "A vector field y' = f(t, y; theta) with its flat parameter vector theta. Made by "
      "revode.MLP, revode.field(name) or revode.PythonField.")
      .def_property_readonly("name", [](const FieldHandle& h) { return h.f64->name(); })
      .def_property_readonly("state_dim", [](const FieldHandle& h) { return h.f64->state_dim(); })
      .def_property_readonly("param_count",
                             [](const FieldHandle& h) { return h.f64->param_count(); })
      .def_property(
          "params",
          [](py::object self) {
            auto& h = self.cast<FieldHandle&>();
            if (h.params.size() == 0) return py::array_t<double>(0);
            // A writable view of the float64 buffer: optimizers may update it in place.
            return py::array_t<double>({h.params.size()}, {py::ssize_t(sizeof(double))},
                                       h.params.data(), self);
          },
          [](FieldHandle& h, py::handle value) {
            const Vector<double> v = to_vector<double>(value, "params", h.params.size());
            std::copy(v.data(), v.data() + v.size(), h.params.data());  // keeps views valid
          },
          "theta as a writable float64 view (param_count,); assigning copies into it")
      .def_property_readonly(
          "default_y0", [](const FieldHandle& h) { return optional_array(h.default_y0); },
          "the initial state used when y0=None (None if the field has none)")
      .def_property_readonly(
          "t_span",
          [](const FieldHandle& h) -> py::object {
            if (!h.t_span) return py::none();
            return py::make_tuple(h.t_span->first, h.t_span->second);
          },
          "a suggested (t0, t1), or None")
      .def_property_readonly("description",
                             [](const FieldHandle& h) { return h.description; })
      .def("eval", &eval, "t"_a, "y"_a, "params"_a = py::none(),
           "dy = f(t, y; theta) for y of shape (state_dim,) or (state_dim, batch).")
      .def("vjp", &vjp, "t"_a, "y"_a, "a"_a, "params"_a = py::none(),
           "(y_bar, theta_bar) = (a^T df/dy, sum over the batch of a^T df/dtheta).")
      .def("__repr__", [](py::object self) {
        const auto& h = self.cast<const FieldHandle&>();
        return fmt::format("<revode.{} {}: state_dim {}, {} parameters>",
                           std::string(py::str(py::type::handle_of(self).attr("__name__"))),
                           h.f64->name(), h.f64->state_dim(), h.f64->param_count());
      });

  py::class_<MlpHandle, FieldHandle, std::shared_ptr<MlpHandle>>(
      m, "MLP",
      "A multilayer perceptron field; widths = [state_dim, hidden..., state_dim]. theta is drawn "
      "from `seed` exactly as the CLI's --seed does; default_y0 is the CLI's standard normal "
      "draw from the same seed.")
      .def(py::init(&make_mlp), "widths"_a, "activation"_a = "tanh", "seed"_a = 0,
           "time_input"_a = false, "init"_a = "pytorch")
      .def_property_readonly("widths", [](const MlpHandle& h) { return h.spec.widths; })
      .def_property_readonly("activation",
                             [](const MlpHandle& h) { return activation_name(h.spec.activation); })
      .def_property_readonly("time_input", [](const MlpHandle& h) { return h.spec.time_input; })
      .def_property_readonly("init", [](const MlpHandle& h) { return h.init; })
      .def_property_readonly("seed", [](const MlpHandle& h) { return h.seed; })
      .def_property_readonly(
          "layers",
          [](const MlpHandle& h) {
            py::list layers;
            for (const LayerShape& l : static_cast<const Mlp<double>&>(*h.f64).layers())
              layers.append(py::dict("inputs"_a = l.inputs, "outputs"_a = l.outputs,
                                     "weight_offset"_a = l.weight_offset,
                                     "bias_offset"_a = l.bias_offset));
            return layers;
          },
          "where each layer's W (outputs x inputs, column-major) and b live in params");

  py::class_<PythonFieldHandle, FieldHandle, std::shared_ptr<PythonFieldHandle>>(
      m, "PythonField",
      "A field written in Python: f(t, y, theta) -> dy and optionally vjp(t, y, theta, a) -> "
      "(y_bar, theta_bar) with y, a of shape (state_dim, batch), theta of shape (param_count,) "
      "and theta_bar summed over the batch. Works with every solver and gradient method, with "
      "one Python call per evaluation (slower than built-in fields).")
      .def(py::init(&make_python_field), "state_dim"_a, "f"_a, "vjp"_a = py::none(),
           "params"_a = py::none(), "name"_a = "python")
      .def_property_readonly("f", [](const PythonFieldHandle& h) { return h.callbacks->f; })
      .def_property_readonly("vjp_function",
                             [](const PythonFieldHandle& h) { return h.callbacks->vjp; });

  m.def("field", &make_analytic, "name"_a, "dim"_a = py::none(),
        "A built-in analytic field by name (see revode.fields()); dim only for 'linear'.");
  m.def("fields", [] {
    const auto names = analytic_field_names();
    return std::vector<std::string>(names.begin(), names.end());
  }, "The built-in analytic field names.");
  m.def("activations", [] {
    std::vector<std::string> names;
    for (Activation a : all_activations) names.emplace_back(activation_name(a));
    return names;
  }, "The MLP hidden activations.");
  m.def("standard_normal", [](std::uint64_t seed, Index n) { return to_numpy(standard_normal(seed, n)); },
        "seed"_a, "n"_a, "n standard normal draws, the same as the CLI's default y0 for `seed`.");
  m.def("check_vjp", &check, "field"_a, "t"_a, "y"_a, "params"_a = py::none(),
        "directions"_a = 4, "seed"_a = 0x5eedULL, "step"_a = 0.0,
        "Compares field.vjp with central differences of field.eval in random directions; returns "
        "the relative errors and a one-line message.");
}

}  // namespace revode::python
