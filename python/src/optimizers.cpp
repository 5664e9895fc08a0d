// The training building blocks of include/revode/train that a NumPy loop needs: Adam/AdamW
// updating a field's params in place, and clipping by global norm.
#include <fmt/format.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>

#include "arrays.hpp"
#include "bindings.hpp"
#include "revode/core/error.hpp"
#include "revode/train/adam.hpp"
#include "revode/train/gradient_clipping.hpp"

namespace revode::python {

using namespace pybind11::literals;

namespace {

/// `obj` as a writable, contiguous float64 vector of `size` entries (updated in place).
Eigen::Map<Vector<double>> writable_vector(py::handle obj, std::string_view what, Index size) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(fmt::format("{} must be a NumPy array (it is updated in place)", what));
  auto array = py::reinterpret_borrow<py::array>(obj);
  const auto d = array.dtype();
  if (d.kind() != 'f' || d.itemsize() != 8 || array.ndim() != 1 || array.shape(0) != size ||
      !(array.flags() & py::array::c_style) || !array.writeable())
    throw py::value_error(fmt::format(
        "{} is a {} array of shape {}{}{}; expected a writable, contiguous float64 array of shape "
        "({},) (such as field.params)",
        what, std::string(py::str(py::handle(d))), shape_string(array),
        (array.flags() & py::array::c_style) ? "" : ", not contiguous",
        array.writeable() ? "" : ", read-only", size));
  return {static_cast<double*>(array.mutable_data()), size};
}

/// NaN or Inf in params would come back from the update as NaN without a word.
void require_finite(const ConstVectorRef<double>& v, std::string_view what) {
  for (Index i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw py::value_error(
          fmt::format("{} entry [{}] is {}; expected finite values", what, i, v[i]));
}

/// Adam.step: the library's update (which checks lr) on a copy, committed only when finite, so
/// an overflowing step (a huge lr) leaves params and the moments as they were.
void adam_step(Adam& adam, double lr, py::handle params, py::handle grad) {
  const Index n = adam.state().m.size();
  auto theta = writable_vector(params, "params", n);
  const Vector<double> g = to_vector<double>(grad, "grad", n);
  require_finite(theta, "params");
  const AdamState before = adam.state();
  Vector<double> updated = theta;
  adam.step(lr, updated, g);
  for (Index i = 0; i < n; ++i)
    if (!std::isfinite(updated[i])) {
      adam.restore(before);
      throw Error(fmt::format(
          "Adam.step with lr = {}: params entry [{}] would become {} (the update overflows); "
          "params and the optimizer state are left unchanged: lower lr",
          lr, i, updated[i]));
    }
  theta = updated;
}

}  // namespace

void bind_optimizers(py::module_& m) {
  py::class_<Adam>(m, "Adam",
                   "Adam (Kingma & Ba 2015) or AdamW (decoupled weight decay) on one flat "
                   "parameter vector; step() updates a float64 array such as field.params in "
                   "place.")
      .def(py::init([](Index param_count, const std::string& kind, double beta1, double beta2,
                       double eps, double weight_decay) {
             return Adam(AdamOptions{parse_optimizer(kind), beta1, beta2, eps, weight_decay},
                         param_count);
           }),
           "param_count"_a, "kind"_a = "adam", "beta1"_a = 0.9, "beta2"_a = 0.999, "eps"_a = 1e-8,
           "weight_decay"_a = 0.0)
      .def("step", &adam_step, "lr"_a, "params"_a, "grad"_a,
           "One update of params (in place) with gradient grad.")
      .def_property_readonly("step_count", [](const Adam& adam) { return adam.state().step; });

  m.def(
      "clip_global_norm",
      [](py::handle grad, double max_norm) {
        const py::array array = float_array(grad, "grad");
        if (array.ndim() != 1)
          throw py::value_error(fmt::format(
              "grad has shape {}; expected a 1-D float64 array (such as Gradient.grad_params)",
              shape_string(array)));
        auto g = writable_vector(grad, "grad", array.shape(0));
        return clip_global_norm(g, max_norm);
      },
      "grad"_a, "max_norm"_a,
      "Scales grad (a float64 array, in place) by max_norm / |grad| when |grad| > max_norm; "
      "returns |grad| before clipping.");
}

}  // namespace revode::python
