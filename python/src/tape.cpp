// revode._core.GradientTape: one gradient method's forward and backward halves held apart, for
// front ends that learn the cotangents at the saves only after the forward (revode.torch: the
// autograd Function's forward runs `forward`, its backward `backward` with grad_outputs). The
// tape owns the field handle, the problem, the CotangentLoss and the ForwardRecord in between.
#include <fmt/format.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bindings.hpp"
#include "problem.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/solvers/reversible_stepper.hpp"

namespace revode::python {

using namespace pybind11::literals;

namespace {

/// The states at the saves and the accepted step times t_0 … t_N of one solve.
template <class T>
class KeepSolution final : public SolveObserver<T> {
 public:
  void on_step(const StepRecord<T>& step) override {
    if (step_times.empty()) step_times.push_back(step.t0);
    step_times.push_back(step.t1);
  }
  void on_save(const SaveRecord<T>& save) override { ys.emplace_back(save.y); }
  std::vector<Batch<T>> ys;
  std::vector<double> step_times;
};

/// K blocks dim × batch (column-major) as a (K, batch, dim) C-ordered array: the same memory
/// layout block by block, so one memcpy each (torch.from_numpy then views it without a copy).
template <class T>
py::array_t<T> saves_array(const std::vector<Batch<T>>& ys, Index dim, Index batch) {
  py::array_t<T> out({py::ssize_t(ys.size()), py::ssize_t(batch), py::ssize_t(dim)});
  for (std::size_t k = 0; k < ys.size(); ++k)
    std::memcpy(out.mutable_data() + k * std::size_t(dim * batch), ys[k].data(),
                sizeof(T) * std::size_t(dim * batch));
  return out;
}

class TapeBase {
 public:
  virtual ~TapeBase() = default;
  virtual py::array forward(bool keep_record) = 0;
  virtual py::tuple backward(const py::handle& cotangents) = 0;
  virtual py::array step_times() const = 0;
  virtual py::array ts() const = 0;
  virtual py::dict stats() const = 0;
  virtual std::string method() const = 0;
  virtual std::string solver() const = 0;
};

template <class T>
class Tape final : public TapeBase {
 public:
  Tape(std::shared_ptr<FieldHandle> handle, const ProblemArgs& args, const std::string& method,
       const ReversibleGuard& guard)
      : handle_(std::move(handle)),
        p_(build_problem<T>(*handle_, args)),
        method_(make_gradient_method<T>(method, guard)),
        loss_(std::vector<Batch<T>>(p_.save_at.ts.size(),
                                    Batch<T>::Zero(p_.y0.rows(), p_.y0.cols()))),
        problem_{*p_.field, *p_.stepper, p_.control, p_.save_at, p_.t0,
                 p_.t1,     p_.y0,       p_.theta,   loss_} {}

  py::array forward(bool keep_record) override {
    require(!ran_, "GradientTape.forward: this tape already ran its forward solve; make a new one");
    ran_ = true;
    KeepSolution<T> kept;
    without_gil(*handle_, [&] {
      if (keep_record) {
        record_ = method_->forward(problem_, &kept);
        stats_ = record_->stats;
        ts_ = record_->ts;
      } else {
        stats_ = integrate<T>(problem_.field, problem_.stepper, problem_.control, problem_.save_at,
                              problem_.t0, problem_.t1, problem_.y0, problem_.theta, kept);
      }
    });
    step_times_ = std::move(kept.step_times);
    if (!keep_record) ts_ = p_.save_at.ts;
    for (std::size_t k = 0; k < kept.ys.size(); ++k)
      require(all_finite(kept.ys[k]),
              "the solution at save {} (t = {}) contains NaN or Inf: the solve diverged in {}", k,
              k < ts_.size() ? ts_[k] : 0.0, dtype_name(dtype_of<T>()));
    return saves_array<T>(kept.ys, p_.y0.rows(), p_.y0.cols());
  }

  py::tuple backward(const py::handle& cotangents) override {
    require(record_ != nullptr,
            "GradientTape.backward: no forward record (forward was not run, or ran with "
            "keep_record=False, e.g. under torch.no_grad())");
    const Index dim = p_.y0.rows(), batch = p_.y0.cols();
    const auto saves = py::ssize_t(loss_.cotangents().size());
    const py::array c = float_array(cotangents, "cotangents");
    if (c.ndim() != 3 || c.shape(0) != saves || c.shape(1) != batch || c.shape(2) != dim)
      throw py::value_error(fmt::format("cotangents have shape {}; expected ({}, {}, {})",
                                        shape_string(c), saves, batch, dim));
    const auto typed = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(c);
    for (py::ssize_t k = 0; k < saves; ++k)
      loss_.cotangents()[std::size_t(k)] =
          Eigen::Map<const Batch<T>>(typed.data() + k * dim * batch, dim, batch);
    GradientResult<T> r =
        without_gil(*handle_, [&] { return method_->backward(problem_, *record_, loss_); });
    record_.reset();  // what the forward kept is freed as soon as it is used
    stats_ = r.stats;
    require(all_finite(r.grad_params) && all_finite(r.grad_y0),
            "the gradient contains NaN or Inf: the backward pass overflowed in {}",
            dtype_name(dtype_of<T>()));
    py::array_t<T> grad_y0({py::ssize_t(batch), py::ssize_t(dim)});
    std::memcpy(grad_y0.mutable_data(), r.grad_y0.data(), sizeof(T) * std::size_t(dim * batch));
    return py::make_tuple(to_numpy<T>(r.grad_params), grad_y0);
  }

  py::array step_times() const override { return to_numpy(step_times_); }
  py::array ts() const override { return to_numpy(ts_); }
  py::dict stats() const override { return stats_dict(stats_); }
  std::string method() const override { return method_->name(); }
  std::string solver() const override { return p_.stepper->name(); }

 private:
  std::shared_ptr<FieldHandle> handle_;
  Problem<T> p_;
  std::unique_ptr<GradientMethod<T>> method_;
  CotangentLoss<T> loss_;
  GradientProblem<T> problem_;
  std::unique_ptr<ForwardRecord<T>> record_;
  bool ran_ = false;
  SolveStats stats_;
  std::vector<double> ts_, step_times_;
};

std::unique_ptr<TapeBase> make_tape(const std::shared_ptr<FieldHandle>& field, py::object y0,
                                    py::object ts, const std::string& method, std::string solver,
                                    std::optional<double> rtol, std::optional<double> atol,
                                    std::optional<Index> steps, std::optional<double> dt,
                                    bool dense, double coupling, double damping,
                                    std::optional<Index> max_steps, std::optional<double> dtmin,
                                    std::optional<double> dt0, std::optional<double> t0,
                                    std::optional<double> t1, py::object dtype, py::object params,
                                    const std::string& reversible_guard, double guard_tolerance) {
  const ReversibleGuard guard{.policy = parse_guard_policy(reversible_guard),
                              .tolerance = guard_tolerance};
  guard.validate();
  if (py::isinstance<py::str>(ts))
    throw py::value_error("GradientTape needs an array of save times, not ts='steps'");
  const ProblemArgs args{
      std::move(y0),    std::move(ts), std::move(solver), rtol,  atol, steps, dt, dense,
      coupling,         damping,       max_steps,         dtmin, dt0,  t0,    t1, std::move(dtype),
      std::move(params)};
  const Dtype d = problem_dtype(*field, args);
  return dispatch_dtype(d, [&]<class T>() -> std::unique_ptr<TapeBase> {
    return std::make_unique<Tape<T>>(field, args, method, guard);
  });
}

}  // namespace

void bind_tape(py::module_& m) {
  py::class_<TapeBase>(m, "GradientTape", R"(One gradient method's forward and backward halves,
held apart (the engine behind revode.torch.odeint; see docs/torch.md).

GradientTape(field, y0, ts, method, solver=..., <revode.gradient's problem arguments>,
reversible_guard="repair", guard_tolerance=0.0):
y0 is (state_dim, batch) or (state_dim,), ts the save times. forward(keep_record=True) solves
and returns the states at the saves as a (K, batch, state_dim) array, keeping what the method
keeps; backward(cotangents) takes dL/dy_k as a (K, batch, state_dim) array and returns
(grad_params, grad_y0) with grad_y0 (batch, state_dim). Each runs once per tape.)")
      .def(py::init(&make_tape), "field"_a, "y0"_a, "ts"_a, "method"_a = "backprop",
           REVODE_PYTHON_PROBLEM_KWARGS, "reversible_guard"_a = "repair",
           "guard_tolerance"_a = 0.0)
      .def("forward", &TapeBase::forward, "keep_record"_a = true)
      .def("backward", &TapeBase::backward, "cotangents"_a)
      .def_property_readonly("step_times", &TapeBase::step_times,
                             "the accepted step times t_0 ... t_N of the forward solve")
      .def_property_readonly("ts", &TapeBase::ts, "the save times reached")
      .def_property_readonly("stats", &TapeBase::stats,
                             "the forward's statistics; after backward, the whole gradient's")
      .def_property_readonly("method", &TapeBase::method)
      .def_property_readonly("solver", &TapeBase::solver);
  m.def(
      "solver_info",
      [](const std::string& name, double coupling, double damping) {
        const auto stepper = make_stepper<double>(name, SolverOptions{coupling, damping});
        const bool reversible = dynamic_cast<const ReversibleStepper<double>*>(stepper.get());
        return py::dict("error_order"_a = stepper->error_order(), "reversible"_a = reversible,
                        "name"_a = stepper->name());
      },
      "name"_a, "coupling"_a = 0.999, "damping"_a = 1.0,
      "A solver's embedded error order (0: fixed steps only) and whether it is algebraically "
      "reversible (revode.torch picks the default gradient method from it).");
}

}  // namespace revode::python
