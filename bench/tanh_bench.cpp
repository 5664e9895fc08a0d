// The packet tanh (src/nn/tanh_packet.hpp) on its own, float64 and float32 (docs/performance.md,
// "Session 6: tanh"):
//   tanh_throughput: a long array (4096 values, in L1) through the kernel, independent packets,
//     as the batch-256 activations see it; items = values.
//   tanh_latency: a dependent chain x ← c·tanh(x) + d of one packet (lanes with different c, d
//     so both branches are taken), as the white-dwarf hidden layer at batch 1 sees it; one
//     item = one tanh packet plus one FMA.
#include <benchmark/benchmark.h>

#include <vector>

#include "../src/nn/tanh_packet.hpp"
#include "revode/core/types.hpp"

namespace {

namespace ei = Eigen::internal;
using revode::Index;

template <class T>
std::vector<T> sample_inputs(Index n) {
  std::vector<T> x(static_cast<std::size_t>(n));
  // A scrambled sweep of [−4, 4]: both branches, in no lane-aligned pattern.
  for (Index i = 0; i < n; ++i) x[i] = T(-4.0 + 8.0 * double((i * 7919) % n) / double(n));
  return x;
}

template <class T>
void tanh_throughput(benchmark::State& state) {
  using P = typename ei::packet_traits<T>::type;
  constexpr Index width = ei::packet_traits<T>::size;
  const Index n = 4096;
  const std::vector<T> x = sample_inputs<T>(n);
  std::vector<T> y(x.size());
  for (auto _ : state) {
    for (Index i = 0; i < n; i += width)
      ei::pstoreu(y.data() + i, revode::tanh_kernel::tanh_packet(ei::ploadu<P>(x.data() + i)));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

template <class T>
void tanh_latency(benchmark::State& state) {
  using P = typename ei::packet_traits<T>::type;
  constexpr Index width = ei::packet_traits<T>::size;
  alignas(64) T c[width];
  alignas(64) T d[width];
  for (Index i = 0; i < width; ++i) {
    c[i] = T(0.5 + 2.5 * double(i) / width);  // fixed points from ~0.1 (small) to ~3 (large)
    d[i] = T(0.1 * double(i + 1));
  }
  const P pc = ei::pload<P>(c);
  const P pd = ei::pload<P>(d);
  P x = pd;
  for (auto _ : state) {
    for (int k = 0; k < 64; ++k) x = ei::pmadd(revode::tanh_kernel::tanh_packet(x), pc, pd);
    benchmark::DoNotOptimize(x);
  }
  state.SetItemsProcessed(state.iterations() * 64);  // items = dependent tanh packets
}

BENCHMARK(tanh_throughput<double>)->Name("tanh_throughput<f64>");
BENCHMARK(tanh_throughput<float>)->Name("tanh_throughput<f32>");
BENCHMARK(tanh_latency<double>)->Name("tanh_latency<f64>");
BENCHMARK(tanh_latency<float>)->Name("tanh_latency<f32>");

}  // namespace
