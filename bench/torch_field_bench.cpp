// TorchField (revode::torch) against the native Mlp on the same network, the README's reference
// field 2→64→64→2 tanh, float64, at batch 1 and 256: eval and VJP. Plus the cost of what
// TorchField adds to every call before torch runs: copying θ into the module (a memcpy of
// param_count scalars). The module is make_test_modules.py's reference_mlp.pt, written at build
// time. torch parallelises over its intra-op pool: compare OMP_NUM_THREADS=1 with the default.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

#include "revode/nn/mlp.hpp"
#include "revode/torch/torch_field.hpp"

namespace {

using revode::Batch;
using revode::Index;
using revode::Vector;

/// The field under test with θ, a state and a cotangent of the given batch.
struct Fixture {
  Fixture(const revode::VectorField<double>& field_, Vector<double> theta_, Index batch)
      : field(field_),
        theta(std::move(theta_)),
        y(Batch<double>::Random(field.state_dim(), batch)),
        a(Batch<double>::Random(field.state_dim(), batch)),
        out(field.state_dim(), batch),
        theta_bar(Vector<double>::Zero(field.param_count())) {}
  const revode::VectorField<double>& field;
  Vector<double> theta;
  Batch<double> y, a, out;
  Vector<double> theta_bar;
};

const revode::TorchField<double>& torch_field() {
  static const revode::TorchField<double> field(REVODE_BENCH_TORCH_MODULE);
  return field;
}

const revode::Mlp<double>& native_field() {
  static const revode::Mlp<double> field(revode::parse_mlp_spec("2,64,64,2"));
  return field;
}

Fixture make_fixture(bool torch, Index batch) {
  if (torch) return Fixture(torch_field(), torch_field().initial_params(), batch);
  return Fixture(native_field(), native_field().init_params(revode::Init::pytorch_default, 1),
                 batch);
}

void bench_eval(benchmark::State& state, bool torch) {
  Fixture f = make_fixture(torch, state.range(0));
  for (auto _ : state) {
    f.field.eval(0.5, f.y, f.theta, f.out);
    benchmark::DoNotOptimize(f.out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void bench_vjp(benchmark::State& state, bool torch) {
  Fixture f = make_fixture(torch, state.range(0));
  for (auto _ : state) {
    f.field.vjp(0.5, f.y, f.theta, f.a, f.out, f.theta_bar);
    benchmark::DoNotOptimize(f.theta_bar.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

/// What TorchField does with θ on every call (Impl::load_theta).
void bench_theta_copy(benchmark::State& state) {
  const Vector<double> theta = torch_field().initial_params();
  Vector<double> module_params(theta.size());
  for (auto _ : state) {
    std::memcpy(module_params.data(), theta.data(), std::size_t(theta.size()) * sizeof(double));
    benchmark::DoNotOptimize(module_params.data());
    benchmark::ClobberMemory();
  }
}

void register_all() {
  for (const bool torch : {true, false}) {
    const std::string kind = torch ? "torchscript" : "native";
    benchmark::RegisterBenchmark((kind + "_eval<f64>/2,64,64,2").c_str(), bench_eval, torch)
        ->ArgName("batch")
        ->Arg(1)
        ->Arg(256);
    benchmark::RegisterBenchmark((kind + "_vjp<f64>/2,64,64,2").c_str(), bench_vjp, torch)
        ->ArgName("batch")
        ->Arg(1)
        ->Arg(256);
  }
  benchmark::RegisterBenchmark("torchscript_theta_copy<f64>/2,64,64,2", bench_theta_copy);
}

const bool registered = (register_all(), true);

}  // namespace
