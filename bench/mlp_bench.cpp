// Mlp eval and VJP at the sizes DESIGN.md quotes ("Why a native engine": float64 2→64→64→2 at
// batch 1 should be ≈1.3 µs per eval and ≈1.1 µs per VJP) plus the tiny 4→10→4 field, for
// batch 1 (latency-bound) and 256 (tanh- and GEMM-bound), float32 and float64, tanh.
#include <benchmark/benchmark.h>

#include <string>

#include "revode/nn/mlp.hpp"

namespace {

using revode::Batch;
using revode::Index;
using revode::Vector;

/// "t,2,10,2" is the white-dwarf field: [t, y] → 10 tanh → 2.
revode::MlpSpec make_spec(std::string widths) {
  const bool time_input = widths.rfind("t,", 0) == 0;
  return revode::parse_mlp_spec(time_input ? widths.substr(2) : widths,
                                revode::Activation::tanh, time_input);
}

template <class T>
struct Fixture {
  Fixture(const char* widths, Index batch)
      : field(make_spec(widths)),
        theta(field.init_params(revode::Init::pytorch_default, 1)),
        y(Batch<T>::Random(field.state_dim(), batch)),
        a(Batch<T>::Random(field.state_dim(), batch)),
        out(field.state_dim(), batch),
        theta_bar(Vector<T>::Zero(field.param_count())) {}
  revode::Mlp<T> field;
  Vector<T> theta;
  Batch<T> y, a, out;
  Vector<T> theta_bar;
};

template <class T>
void bench_eval(benchmark::State& state, const char* widths) {
  Fixture<T> f(widths, state.range(0));
  for (auto _ : state) {
    f.field.eval(T(0.5), f.y, f.theta, f.out);
    benchmark::DoNotOptimize(f.out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

template <class T>
void bench_vjp(benchmark::State& state, const char* widths) {
  Fixture<T> f(widths, state.range(0));
  for (auto _ : state) {
    f.field.vjp(T(0.5), f.y, f.theta, f.a, f.out, f.theta_bar);
    benchmark::DoNotOptimize(f.theta_bar.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// Registered by hand so the names read "mlp_vjp<f64>/2,64,64,2/batch:256".
template <class T>
void register_all(const char* type_name) {
  for (const char* widths : {"2,64,64,2", "4,10,4", "t,2,10,2"}) {
    const std::string suffix = std::string("<") + type_name + ">/" + widths;
    benchmark::RegisterBenchmark(("mlp_eval" + suffix).c_str(), bench_eval<T>, widths)
        ->ArgName("batch")
        ->Arg(1)
        ->Arg(256)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("mlp_vjp" + suffix).c_str(), bench_vjp<T>, widths)
        ->ArgName("batch")
        ->Arg(1)
        ->Arg(256)
        ->Unit(benchmark::kMicrosecond);
  }
}

const bool registered = [] {
  register_all<float>("f32");
  register_all<double>("f64");
  return true;
}();

}  // namespace
