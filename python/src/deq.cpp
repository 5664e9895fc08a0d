// revode._core.DeqTape: a DEQ layer z* = f(z*, x) whose map is written in Python (a torch
// module for revode.torch.deq), solved by revode's fixed-point iterations (deq/fixed_point.hpp)
// and differentiated by its DEQ gradients (deq/deq_gradient.hpp), forward and backward apart.
#include <fmt/format.h>
#include <pybind11/stl.h>

#include <cstring>

#include "arrays.hpp"
#include "bindings.hpp"
#include "problem.hpp"
#include "revode/deq/deq_gradient.hpp"

namespace revode::python {

using namespace pybind11::literals;

namespace {

/// f(z, x) -> out and vjp(z, x, a) -> (z_bar, x_bar, theta_bar) called back with the GIL held;
/// z, a: (state_dim, batch), x: (input_dim, batch) arrays of T (fresh copies).
struct DeqCallbacks {
  py::object f, vjp;
  Index state_dim = 0, input_dim = 0, param_count = 0;
};

template <class T>
class PythonDeqMap final : public DeqMap<T> {
 public:
  explicit PythonDeqMap(std::shared_ptr<const DeqCallbacks> cb) : cb_(std::move(cb)) {}
  Index state_dim() const override { return cb_->state_dim; }
  Index input_dim() const override { return cb_->input_dim; }
  Index param_count() const override { return cb_->param_count; }
  std::string name() const override { return "python deq map"; }

  void eval(const ConstBatchRef<T>& z, const ConstBatchRef<T>& x, const ConstVectorRef<T>&,
            BatchRef<T> out) const override {
    py::gil_scoped_acquire gil;
    const py::object r = cb_->f(to_numpy<T>(z, false), to_numpy<T>(x, false));
    out = to_batch<T>(r, "deq map f(z, x)", z.rows(), z.cols(), /*check_finite=*/true);
  }

  void vjp(const ConstBatchRef<T>& z, const ConstBatchRef<T>& x, const ConstVectorRef<T>&,
           const ConstBatchRef<T>& a, BatchRef<T> z_bar, BatchRef<T> x_bar,
           VectorRef<T> theta_bar) const override {
    py::gil_scoped_acquire gil;
    const py::object r =
        cb_->vjp(to_numpy<T>(z, false), to_numpy<T>(x, false), to_numpy<T>(a, false));
    if (!py::isinstance<py::tuple>(r) || py::len(r) != 3)
      throw py::type_error("deq map vjp(z, x, a) must return a tuple (z_bar, x_bar, theta_bar)");
    const auto t = py::reinterpret_borrow<py::tuple>(r);
    z_bar = to_batch<T>(t[0], "deq map vjp: z_bar", z.rows(), z.cols(), true);
    x_bar += to_batch<T>(t[1], "deq map vjp: x_bar", x.rows(), x.cols(), true);
    theta_bar += to_vector<T>(t[2], "deq map vjp: theta_bar", cb_->param_count, true);
  }

 private:
  std::shared_ptr<const DeqCallbacks> cb_;
};

class DeqTapeBase {
 public:
  virtual ~DeqTapeBase() = default;
  virtual py::array forward() = 0;
  virtual py::tuple backward(const py::handle& z_bar) = 0;
  virtual py::dict stats() const = 0;
};

/// (rows, cols) column-major block -> (cols, rows) C array: one memcpy.
template <class T>
py::array_t<T> transposed(const ConstBatchRef<T>& b) {
  py::array_t<T> out({py::ssize_t(b.cols()), py::ssize_t(b.rows())});
  const Batch<T> copy = b;
  std::memcpy(out.mutable_data(), copy.data(), sizeof(T) * std::size_t(copy.size()));
  return out;
}

template <class T>
class DeqTape final : public DeqTapeBase {
 public:
  DeqTape(std::shared_ptr<const DeqCallbacks> cb, Batch<T> x, Vector<T> theta, DeqOptions options)
      : map_(std::move(cb)), x_(std::move(x)), theta_(std::move(theta)), options_(options) {}

  py::array forward() override {
    require(!forward_.has_value(), "DeqTape.forward: already ran; make a new tape");
    {
      py::gil_scoped_release release;
      forward_ = deq_forward<T>(map_, x_, theta_, options_);
    }
    stats_ = forward_->stats;
    return transposed<T>(forward_->z);
  }

  py::tuple backward(const py::handle& z_bar) override {
    require(forward_.has_value() && !backward_done_,
            "DeqTape.backward: no forward solve to differentiate (forward not run, or backward "
            "already ran: backward called twice)");
    backward_done_ = true;
    const Index dim = map_.state_dim(), batch = x_.cols();
    // (batch, dim) C order is the dim × batch block column-major.
    const Batch<T> a =
        to_batch<T>(py::reinterpret_borrow<py::object>(z_bar).attr("T"), "z_bar", dim, batch, true);
    DeqGradientResult<T> r;
    {
      py::gil_scoped_release release;
      r = deq_backward<T>(map_, *forward_, x_, theta_, a);
    }
    stats_ = r.stats;
    forward_->tape.clear();
    return py::make_tuple(to_numpy<T>(r.grad_params), transposed<T>(r.grad_x));
  }

  py::dict stats() const override {
    const DeqStats& s = stats_;
    py::dict d("iterations"_a = s.iterations, "residual"_a = s.residual,
               "converged"_a = s.converged, "nfe"_a = s.nfe, "backward_nfe"_a = s.backward_nfe,
               "nvjp"_a = s.nvjp, "adjoint_iterations"_a = s.adjoint_iterations,
               "stored_floats"_a = s.stored_floats,
               "reconstruction_error"_a = s.reconstruction_error);
    if (s.guard.active) d["guard"] = guard_dict(s.guard);
    return d;
  }

 private:
  PythonDeqMap<T> map_;
  Batch<T> x_;
  Vector<T> theta_;
  DeqOptions options_;
  std::optional<DeqForward<T>> forward_;
  bool backward_done_ = false;
  DeqStats stats_;
};

std::unique_ptr<DeqTapeBase> make_deq_tape(Index state_dim, py::object f, py::object vjp,
                                           py::object x, py::object params,
                                           const std::string& solver, double beta, double tol,
                                           Index max_steps, const std::string& gradient,
                                           std::optional<double> adjoint_tol,
                                           std::optional<Index> adjoint_max_steps,
                                           py::object dtype) {
  if (state_dim < 1)
    throw py::value_error(fmt::format("DeqTape: state_dim = {}; expected >= 1", state_dim));
  DeqOptions o;
  o.solver = parse_fixed_point_solver(solver);
  o.beta = beta;
  o.tol = tol;
  o.max_steps = max_steps;
  o.gradient = parse_deq_gradient(gradient);
  o.adjoint_tol = adjoint_tol;
  o.adjoint_max_steps = adjoint_max_steps;
  validate(o);
  const py::array xa = float_array(x, "x");
  if (xa.ndim() != 2)
    throw py::value_error(
        fmt::format("DeqTape: x has shape {}; expected (input_dim, batch)", shape_string(xa)));
  auto cb = std::make_shared<DeqCallbacks>();
  cb->f = std::move(f);
  cb->vjp = std::move(vjp);
  cb->state_dim = state_dim;
  cb->input_dim = xa.shape(0);
  const Dtype d = parse_dtype(dtype, xa);
  return dispatch_dtype(d, [&]<class T>() -> std::unique_ptr<DeqTapeBase> {
    Vector<T> theta = to_vector<T>(params, "params", -1);
    cb->param_count = theta.size();
    Batch<T> xb = to_batch<T>(xa, "x", xa.shape(0), xa.shape(1), true);
    return std::make_unique<DeqTape<T>>(cb, std::move(xb), std::move(theta), o);
  });
}

}  // namespace

void bind_deq(py::module_& m) {
  py::class_<DeqTapeBase>(m, "DeqTape", R"(A DEQ layer z* = f(z*, x) with a map written in Python
(the engine behind revode.torch.deq; see docs/torch.md).

DeqTape(state_dim, f, vjp, x, params, solver="reversible", beta=0.5, tol=1e-6, max_steps=50,
gradient="reversible", adjoint_tol=None, adjoint_max_steps=None, dtype=None): f(z, x) -> out
and vjp(z, x, a) -> (z_bar, x_bar, theta_bar) with z, a (state_dim, batch) and x
(input_dim, batch); forward() returns z_n as (batch, state_dim); backward(z_bar) takes
dL/dz_n as (batch, state_dim) and returns (grad_params, grad_x) with grad_x (batch, input_dim).)")
      .def(py::init(&make_deq_tape), "state_dim"_a, "f"_a, "vjp"_a, "x"_a, "params"_a,
           "solver"_a = "reversible", "beta"_a = 0.5, "tol"_a = 1e-6, "max_steps"_a = 50,
           "gradient"_a = "reversible", "adjoint_tol"_a = py::none(),
           "adjoint_max_steps"_a = py::none(), "dtype"_a = py::none())
      .def("forward", &DeqTapeBase::forward)
      .def("backward", &DeqTapeBase::backward, "z_bar"_a)
      .def_property_readonly("stats", &DeqTapeBase::stats);
}

}  // namespace revode::python
