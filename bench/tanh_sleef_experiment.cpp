// docs/performance.md, "Session 6: tanh": revode's packet tanh (src/nn/tanh_packet.hpp) against
// SLEEF 3.5.1's 8-lane double and 16-lane float AVX-512 tanh (1.0-ulp and 3.5-ulp versions).
// Prints each kernel's max ulp against std::tanh on 4·10⁶ evenly spaced points of [−20, 20],
// then times throughput (4096 values) and latency (a dependent chain x ← c·tanh(x) + d).
// Not part of the build (SLEEF was not adopted; needs AVX-512 and Debian's libsleef-dev); run
// by hand from the repository root (the first command is one line):
//   g++ -O3 -march=native -std=c++20 -DNDEBUG -I/usr/include/eigen3 -Iinclude
//       bench/tanh_sleef_experiment.cpp -lsleef -lbenchmark -lpthread -o /tmp/tanh_sleef
//   /tmp/tanh_sleef --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <sleef.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../src/nn/tanh_packet.hpp"

namespace {

namespace ei = Eigen::internal;
using Pd = ei::Packet8d;
using Pf = ei::Packet16f;

struct Revode {
  template <class P>
  static P f(const P& x) {
    return revode::tanh_kernel::tanh_packet(x);
  }
};
struct SleefU10 {
  static Pd f(const Pd& x) { return Sleef_tanhd8_u10(x); }
  static Pf f(const Pf& x) { return Sleef_tanhf16_u10(x); }
};
struct SleefU35 {
  static Pd f(const Pd& x) { return Sleef_tanhd8_u35(x); }
  static Pf f(const Pf& x) { return Sleef_tanhf16_u35(x); }
};

template <class T>
std::int64_t ordered(T v) {
  if constexpr (sizeof(T) == 8) {
    std::int64_t i;
    std::memcpy(&i, &v, 8);
    return i < 0 ? INT64_MIN - i : i;
  } else {
    std::int32_t i;
    std::memcpy(&i, &v, 4);
    return i < 0 ? std::int64_t(INT32_MIN) - i : i;
  }
}

template <class T, class K>
void print_accuracy(const char* name) {
  using P = typename ei::packet_traits<T>::type;
  constexpr int w = ei::packet_traits<T>::size;
  const long n = 4'000'000;
  std::vector<T> x(n), y(n);
  for (long i = 0; i < n; ++i) x[i] = T(-20.0 + 40.0 * double(i) / double(n - 1));
  for (long i = 0; i < n; i += w) ei::pstoreu(&y[i], K::f(ei::ploadu<P>(&x[i])));
  std::int64_t worst = 0;
  long not_monotone = 0;
  for (long i = 0; i < n; ++i) {
    const T want = static_cast<T>(std::tanh(static_cast<double>(x[i])));
    const std::int64_t d = ordered(y[i]) - ordered(want);
    worst = std::max(worst, d < 0 ? -d : d);
    if (i > 0 && y[i] < y[i - 1]) ++not_monotone;
  }
  std::printf("%-10s %s: max %lld ulp against std::tanh, %ld non-monotone points\n", name,
              sizeof(T) == 8 ? "f64" : "f32", static_cast<long long>(worst), not_monotone);
}

template <class T, class K>
void throughput(benchmark::State& state) {
  using P = typename ei::packet_traits<T>::type;
  constexpr int w = ei::packet_traits<T>::size;
  const int n = 4096;
  std::vector<T> x(n), y(n);
  for (int i = 0; i < n; ++i) x[i] = T(-4.0 + 8.0 * double((i * 7919) % n) / n);
  for (auto _ : state) {
    for (int i = 0; i < n; i += w) ei::pstoreu(&y[i], K::f(ei::ploadu<P>(&x[i])));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

template <class T, class K>
void latency(benchmark::State& state) {
  using P = typename ei::packet_traits<T>::type;
  constexpr int w = ei::packet_traits<T>::size;
  alignas(64) T c[w];
  alignas(64) T d[w];
  for (int i = 0; i < w; ++i) c[i] = T(0.5 + 2.5 * i / w), d[i] = T(0.1 * (i + 1));
  const P pc = ei::pload<P>(c);
  const P pd = ei::pload<P>(d);
  P x = pd;
  for (auto _ : state) {
    for (int k = 0; k < 64; ++k) x = ei::pmadd(K::f(x), pc, pd);
    benchmark::DoNotOptimize(x);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}

BENCHMARK(throughput<double, Revode>)->Name("throughput<f64>/revode");
BENCHMARK(throughput<double, SleefU10>)->Name("throughput<f64>/sleef_u10");
BENCHMARK(throughput<double, SleefU35>)->Name("throughput<f64>/sleef_u35");
BENCHMARK(throughput<float, Revode>)->Name("throughput<f32>/revode");
BENCHMARK(throughput<float, SleefU10>)->Name("throughput<f32>/sleef_u10");
BENCHMARK(throughput<float, SleefU35>)->Name("throughput<f32>/sleef_u35");
BENCHMARK(latency<double, Revode>)->Name("latency<f64>/revode");
BENCHMARK(latency<double, SleefU10>)->Name("latency<f64>/sleef_u10");
BENCHMARK(latency<double, SleefU35>)->Name("latency<f64>/sleef_u35");
BENCHMARK(latency<float, Revode>)->Name("latency<f32>/revode");
BENCHMARK(latency<float, SleefU10>)->Name("latency<f32>/sleef_u10");
BENCHMARK(latency<float, SleefU35>)->Name("latency<f32>/sleef_u35");

}  // namespace

int main(int argc, char** argv) {
  print_accuracy<double, Revode>("revode");
  print_accuracy<double, SleefU10>("sleef_u10");
  print_accuracy<double, SleefU35>("sleef_u35");
  print_accuracy<float, Revode>("revode");
  print_accuracy<float, SleefU10>("sleef_u10");
  print_accuracy<float, SleefU35>("sleef_u35");
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
