// One gradient through a neural ODE: the reference point (MLP 2→64→64→2 tanh,
// float64, batch 1, 1000 midpoint steps on [0, 10], loss = mean square of the states at all
// 1001 grid times; torchdiffeq with PyTorch takes about 260 ms on a 2-core machine), and the
// white-dwarf-sized model ([t, y] → 10 tanh → 2) for every registered gradient method.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "revode/gradients/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/registry.hpp"

namespace {

using namespace revode;

template <class T = double>
struct Problem {
  Problem(const char* widths, bool time_input, Index batch, const char* solver)
      : field(parse_mlp_spec(widths, Activation::tanh, time_input)),
        theta(field.init_params(Init::pytorch_default, 0)),
        y0(Batch<T>::Constant(field.state_dim(), batch, T(0.5))),
        stepper(make_stepper<T>(solver)) {}
  Mlp<T> field;
  Vector<T> theta;
  Batch<T> y0;
  std::unique_ptr<Stepper<T>> stepper;
  MseZero<T> loss;
};

template <class T>
void run(benchmark::State& state, Problem<T>& p, const std::string& method, Index steps) {
  const auto gradient = make_gradient_method<T>(method);
  const GradientProblem<T> problem{p.field, *p.stepper, FixedSteps{steps},
                                   SaveAt::every_step(), 0.0, 10.0, p.y0, p.theta, p.loss};
  GradientResult<T> r;
  for (auto _ : state) {
    r = gradient->compute(problem);
    benchmark::DoNotOptimize(r.grad_params.data());
  }
  state.counters["nfe"] = double(r.stats.nfe);
  state.counters["nvjp"] = double(r.stats.nvjp);
  state.counters["stored_floats"] = double(r.stats.stored_floats);
}

void reference_gradient(benchmark::State& state) {
  Problem<> p("2,64,64,2", false, 1, "midpoint");
  run(state, p, "backprop", 1000);
}
BENCHMARK(reference_gradient)->Name("gradient/mlp2-64-64-2/midpoint/N1000/backprop")->Unit(benchmark::kMillisecond);

/// The reference gradient at batch 1 and 256 for direct backprop (midpoint) and reversible
/// backprop (reversible:midpoint), float64 and float32: names read
/// "reference/f64/backprop/batch:256".
template <class T>
void register_reference(const char* type_name) {
  const std::pair<const char*, const char*> methods[] = {{"backprop", "midpoint"},
                                                         {"reversible", "reversible:midpoint"}};
  for (const auto& [method, solver] : methods)
    benchmark::RegisterBenchmark(
        fmt::format("reference/{}/{}", type_name, method).c_str(),
        [method = std::string(method), solver = std::string(solver)](benchmark::State& state) {
          Problem<T> p("2,64,64,2", false, state.range(0), solver.c_str());
          run(state, p, method, 1000);
        })
        ->ArgName("batch")
        ->Arg(1)
        ->Arg(256)
        ->Unit(benchmark::kMillisecond);
}

const bool reference_registered = [] {
  register_reference<double>("f64");
  register_reference<float>("f32");
  return true;
}();

/// Every gradient method at N = 1000 on the white-dwarf-sized model; reversible backprop runs
/// the McCallum–Foster solver over the same base tableau, as in the paper.
const bool registered = [] {
  const std::pair<const char*, const char*> methods[] = {
      {"backprop", "midpoint"},     {"anode", "midpoint"},
      {"checkpoint:8", "midpoint"}, {"checkpoint:32", "midpoint"},
      {"symplectic", "midpoint"},   {"adjoint", "midpoint"},
      {"reversible", "reversible:midpoint"}, {"backprop", "reversible:midpoint"}};
  for (const auto& [method, solver] : methods)
    benchmark::RegisterBenchmark(
        fmt::format("gradient/mlp[t,y]-10-2/{}/{}", solver, method).c_str(),
        [method = std::string(method), solver = std::string(solver)](benchmark::State& state) {
          Problem<> p("2,10,2", true, 1, solver.c_str());
          run(state, p, method, state.range(0));
        })
        ->Arg(1000)
        ->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
