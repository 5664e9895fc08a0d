// revode.sde_field and revode.SdeField (see sde_handle.hpp).
#include <fmt/format.h>
#include <pybind11/stl.h>

#include <algorithm>

#include "bindings.hpp"
#include "revode/core/error.hpp"
#include "revode/sde/drift_diffusion.hpp"
#include "revode/sde/sde_steppers.hpp"
#include "revode/sde/shark.hpp"
#include "sde_handle.hpp"

namespace revode::python {

using namespace pybind11::literals;

namespace {

template <class T>
std::unique_ptr<DriftDiffusion<T>> build(const FieldHandle& drift, const std::string& diffusion,
                                         NoiseType noise, Vector<double>* default_params,
                                         Index* noise_dim) {
  const VectorField<T>& f = drift.get<T>();
  DiffusionBuild<T> g = make_diffusion<T>(diffusion, noise, f.state_dim(), Activation::tanh, 0);
  if (default_params != nullptr) *default_params = g.default_params.template cast<double>();
  *noise_dim = g.noise_dim;
  return std::make_unique<DriftDiffusion<T>>(f.clone(), std::move(g.diffusion), noise, g.noise_dim);
}

std::shared_ptr<SdeHandle> make_sde_field(const std::shared_ptr<FieldHandle>& drift,
                                          const std::string& diffusion, const std::string& noise,
                                          std::int64_t brownian_seed,
                                          const py::object& diffusion_params) {
  const FieldHandle& f = require_field(drift);
  auto h = std::make_shared<SdeHandle>();
  h->drift = drift;
  h->diffusion = diffusion;
  h->noise = parse_noise_type(noise);
  require(brownian_seed >= 0, "brownian_seed={} is outside its range [0, {}]", brownian_seed,
          kMaxBrownianSeed);
  h->brownian_seed = brownian_seed;
  Vector<double> theta_g;
  h->f64 = build<double>(f, diffusion, h->noise, &theta_g, &h->noise_dim);
  h->f32 = build<float>(f, diffusion, h->noise, nullptr, &h->noise_dim);
  if (!diffusion_params.is_none())
    theta_g = to_vector<double>(diffusion_params, "diffusion_params", theta_g.size());
  h->params.resize(f.params.size() + theta_g.size());
  h->params << f.params, theta_g;
  h->default_y0 = f.default_y0;
  h->t_span = f.t_span;
  h->description = fmt::format("{}, Brownian seed {}", h->f64->name(), brownian_seed);
  return h;
}

}  // namespace

template <class T>
std::unique_ptr<Stepper<T>> sde_stepper_or_null(const FieldHandle& field, const ProblemArgs& args,
                                                const Problem<T>& p) {
  const auto* sde = dynamic_cast<const SdeHandle*>(&field);
  if (sde == nullptr) return nullptr;
  if (args.dense) throw py::value_error("dense=True does not apply to SDEs");
  auto brownian = std::make_shared<const BrownianTree>(std::min(p.t0, p.t1), std::max(p.t0, p.t1),
                                                       sde->noise_dim, sde->brownian_seed, 0x1p-40,
                                                       sde_solver_levy_area(args.solver));
  return make_sde_stepper<T>(args.solver, SolverOptions{args.coupling, args.damping},
                             std::move(brownian), dynamic_cast<const SdeField<T>&>(field.get<T>()));
}

template std::unique_ptr<Stepper<float>> sde_stepper_or_null<float>(const FieldHandle&,
                                                                    const ProblemArgs&,
                                                                    const Problem<float>&);
template std::unique_ptr<Stepper<double>> sde_stepper_or_null<double>(const FieldHandle&,
                                                                      const ProblemArgs&,
                                                                      const Problem<double>&);

void bind_sde(py::module_& m) {
  py::class_<SdeHandle, FieldHandle, std::shared_ptr<SdeHandle>>(
      m, "SdeField",
      "dy = f(t, y) dt + g(t, y) o dW: a Field whose eval is the drift f, with a diffusion and "
      "a Brownian seed; revode.solve/gradient (and sde_solve/sde_gradient) integrate it with "
      "the SDE form of the solver. params = [drift params; diffusion params].")
      .def_property_readonly("drift", [](const SdeHandle& h) { return h.drift; })
      .def_property_readonly("diffusion", [](const SdeHandle& h) { return h.diffusion; })
      .def_property_readonly(
          "noise", [](const SdeHandle& h) { return std::string(noise_type_name(h.noise)); })
      .def_property_readonly("noise_dim", [](const SdeHandle& h) { return h.noise_dim; })
      .def_property_readonly("brownian_seed", [](const SdeHandle& h) { return h.brownian_seed; });
  m.def("sde_field", &make_sde_field, "drift"_a, "diffusion"_a, "noise"_a = "diagonal",
        "brownian_seed"_a = 0, "diffusion_params"_a = py::none(),
        R"(An SDE dy = f dt + g(t, y) o dW over the drift field `drift`.

diffusion: "const:V,..." (constant g), "linear:V,..." (g = sigma * y) or "mlp:d,H,...,K"
    (an MLP with K = d outputs for diagonal/scalar noise, d*m for general), as the CLI's
    --diffusion; its parameters default to the spec's values (MLP: PyTorch's initialisation,
    seed 0) unless diffusion_params is given.
noise: "diagonal", "scalar", "additive" or "general".
brownian_seed: 0 ... 2**63 - 1; sample b of a batch is the Brownian path of (seed, b).
The drift's parameters are copied into params at creation.)");
}

}  // namespace revode::python
