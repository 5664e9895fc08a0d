// revode.cde_field: a neural CDE over observations as a revode.Field (docs/cde.md), usable with
// revode.solve and revode.gradient like any other field; θ = [network | path values].
#include <fmt/format.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>

#include "arrays.hpp"
#include "bindings.hpp"
#include "field_handle.hpp"
#include "revode/cde/cde_field.hpp"
#include "revode/cde/observations.hpp"
#include "revode/core/error.hpp"

namespace revode::python {

using namespace pybind11::literals;

namespace {

struct CdeHandle final : FieldHandle {
  ObservationPath path;
  ObservationOptions options;
  Index data_channels = 0;
  Index network_params = 0;
};

CountChannels parse_counts(const std::string& name) {
  if (name == "none") return CountChannels::none;
  if (name == "per-channel") return CountChannels::per_channel;
  if (name == "shared") return CountChannels::shared;
  throw py::value_error(
      fmt::format("count_channels='{}': expected 'none', 'per-channel' or 'shared'", name));
}

/// Observations shaped (batch, times, channels) as torchcde's, or (times, channels) for one
/// sample; NaN marks a missing value. Returns the flat values in C order (channel fastest).
std::vector<double> raw_observations(py::handle obj, Index knots, Index* channels, Index* batch) {
  const py::array array = float_array(obj, "observations");
  if (array.ndim() != 2 && array.ndim() != 3)
    throw py::value_error(fmt::format(
        "observations has shape {}; expected (batch, times, channels) or (times, channels)",
        shape_string(array)));
  const auto dense = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(array);
  const Index b = array.ndim() == 3 ? Index(array.shape(0)) : 1;
  const Index k = Index(array.shape(array.ndim() - 2)), c = Index(array.shape(array.ndim() - 1));
  if (k != knots)
    throw py::value_error(
        fmt::format("observations has shape {}: {} times; expected {}, one per "
                    "entry of times",
                    shape_string(array), k, knots));
  *channels = c;
  *batch = b;
  return {dense.data(), dense.data() + dense.size()};
}

void set_observations(CdeHandle& h, py::handle observations) {
  Index channels = 0, batch = 0;
  std::vector<double> raw =
      raw_observations(observations, Index(h.path.times.size()), &channels, &batch);
  if (channels != h.data_channels || batch != h.path.batch)
    throw py::value_error(
        fmt::format("observations have {} channels and batch {}; this field was made for {} and {}",
                    channels, batch, h.data_channels, h.path.batch));
  h.path = prepare_observations(h.path.times,
                                Eigen::Map<const Vector<double>>(raw.data(), Index(raw.size())),
                                channels, batch, h.options);
  h.params.tail(h.path.values.size()) = h.path.values;
}

std::shared_ptr<CdeHandle> make_cde(std::vector<double> times, py::handle observations,
                                    Index hidden, std::vector<Index> hidden_widths,
                                    const std::string& interpolation, const std::string& activation,
                                    bool tanh_output, bool time_channel,
                                    const std::string& count_channels, std::uint64_t seed,
                                    const std::string& init) {
  auto h = std::make_shared<CdeHandle>();
  h->options = {time_channel, parse_counts(count_channels)};
  Index channels = 0, batch = 0;
  std::vector<double> raw = raw_observations(observations, Index(times.size()), &channels, &batch);
  h->data_channels = channels;
  h->path =
      prepare_observations(times, Eigen::Map<const Vector<double>>(raw.data(), Index(raw.size())),
                           channels, batch, h->options);
  const CdeSpec spec{hidden, std::move(hidden_widths), parse_activation(activation), tanh_output};
  const ControlPath path(times, parse_interpolation(interpolation));
  auto f64 = std::make_unique<CdeField<double>>(spec, path, h->path.channels, batch);
  if (init != "pytorch" && init != "glorot")
    throw py::value_error(fmt::format("init='{}': expected 'pytorch' or 'glorot'", init));
  h->params = f64->init_params(init == "glorot" ? Init::glorot : Init::pytorch_default, seed,
                               h->path.values);
  h->network_params = f64->network_param_count();
  h->t_span = std::pair{times.front(), times.back()};
  h->description = fmt::format("{}, {} initialisation, seed {}", f64->name(), init, seed);
  h->f32 = std::make_unique<CdeField<float>>(spec, path, h->path.channels, batch);
  h->f64 = std::move(f64);
  return h;
}

/// (batch, times, channels) of a flat vector in the path layout.
py::array_t<double> as_path_array(const double* data, Index batch, Index knots, Index channels) {
  py::array_t<double> out({py::ssize_t(batch), py::ssize_t(knots), py::ssize_t(channels)});
  std::copy(data, data + batch * knots * channels, out.mutable_data());
  return out;
}

}  // namespace

void bind_cde(py::module_& m) {
  py::class_<CdeHandle, FieldHandle, std::shared_ptr<CdeHandle>>(
      m, "CDE",
      "A neural CDE dz = f(z) dX(t) as a field (revode.cde_field). params = [network | path "
      "values]; the state is (hidden, batch) with column b driven by sample b's path.")
      .def_property_readonly("hidden", [](const CdeHandle& h) { return h.f64->state_dim(); })
      .def_property_readonly("batch", [](const CdeHandle& h) { return h.path.batch; })
      .def_property_readonly(
          "channels", [](const CdeHandle& h) { return h.path.channels; },
          "channels of the path: [time] + data + [counts]")
      .def_property_readonly("times", [](const CdeHandle& h) { return h.path.times; })
      .def_property_readonly(
          "network_param_count", [](const CdeHandle& h) { return h.network_params; },
          "params[:network_param_count] are the network's")
      .def_property_readonly(
          "path_values",
          [](const CdeHandle& h) {
            return as_path_array(h.params.data() + h.network_params, h.path.batch,
                                 Index(h.path.times.size()), h.path.channels);
          },
          "the interpolated path values, (batch, times, channels), a copy")
      .def("set_observations", &set_observations, "observations"_a,
           "Replace the observations (same times, channels and batch): a new minibatch.")
      .def(
          "path_gradient",
          [](const CdeHandle& h, py::handle grad_params) {
            const Vector<double> g = to_vector<double>(grad_params, "grad_params", h.params.size());
            return as_path_array(g.data() + h.network_params, h.path.batch,
                                 Index(h.path.times.size()), h.path.channels);
          },
          "grad_params", "dL/d(path values), (batch, times, channels), from grad_params")
      .def(
          "observation_gradient",
          [](const CdeHandle& h, py::handle grad_params) {
            const Vector<double> g = to_vector<double>(grad_params, "grad_params", h.params.size());
            const Index raw = h.data_channels * Index(h.path.times.size()) * h.path.batch;
            const Vector<double> folded =
                fold_observation_gradient(h.path, raw, g.tail(h.path.values.size()));
            return as_path_array(folded.data(), h.path.batch, Index(h.path.times.size()),
                                 h.data_channels);
          },
          "grad_params",
          "dL/d(raw observations), shaped like them (batch, times, channels): forward-filled "
          "values collect the gradient of every copy; missing entries get 0");

  m.def("cde_field", &make_cde, "times"_a, "observations"_a, "hidden"_a,
        "hidden_widths"_a = std::vector<Index>{}, "interpolation"_a = "hermite",
        "activation"_a = "tanh", "tanh_output"_a = true, "time_channel"_a = true,
        "count_channels"_a = "per-channel", "seed"_a = 0, "init"_a = "pytorch",
        "A neural CDE field over observations (batch, times, channels) at increasing times, NaN "
        "for missing values (filled forward; docs/cde.md). interpolation: 'linear', 'hermite' "
        "(torchcde's backward differences) or 'natural'.");
}

}  // namespace revode::python
