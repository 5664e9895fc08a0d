// Session 7 of docs/performance.md: the floor of the reference gradient at batch 256 (MLP
// 2→64→64→2 tanh, float64) on one core, and what a forward-tape entry's traffic costs against
// the forward recompute it saves. Not part of the build; run by hand:
//   g++ -O3 -march=native -DNDEBUG -I/usr/include/eigen3 -Isrc/nn bench/tape_floor_experiment.cpp \
//     -lbenchmark -lpthread -o /tmp/tape_floor && /tmp/tape_floor --benchmark_repetitions=5 \
//     --benchmark_report_aggregates_only=true
// Benchmarks:
//   recompute: what the VJP redoes for layer 2 (Z = b 1ᵀ + W X, 64×64 · 64×256, then σ = tanh
//     in place with σ' = (1 − σ)(1 + σ) written beside), and its two parts alone.
//   stream_write / stream_read: one σ block (64 × 256 doubles, 128 KiB) written to / read from
//     successive places of a buffer larger than L3 (so each block goes to / comes from DRAM),
//     ordinary stores, non-temporal stores, and reads walking the buffer backwards as the VJPs
//     do. bytes_per_second is the single-core streaming bandwidth.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "tanh_packet.hpp"

namespace {
using M = Eigen::MatrixXd;
constexpr int kRows = 64, kBatch = 256;
constexpr std::size_t kBlock = std::size_t(kRows) * kBatch;     // doubles per σ block
constexpr std::size_t kBuffer = std::size_t(256) << 20;         // bytes: 8× L3
constexpr std::size_t kBlocks = kBuffer / (kBlock * sizeof(double));

void tanh_block(double* x, double* d, std::size_t n) {
  namespace ei = Eigen::internal;
  using P = ei::packet_traits<double>::type;
  const P one = ei::pset1<P>(1.0);
  for (std::size_t i = 0; i < n; i += ei::packet_traits<double>::size) {
    const P t = revode::tanh_kernel::tanh_packet(ei::ploadu<P>(x + i));
    ei::pstoreu(x + i, t);
    ei::pstoreu(d + i, ei::pmul(ei::psub(one, t), ei::padd(one, t)));
  }
}

// kind 0: GEMM + tanh; 1: GEMM alone; 2: tanh alone.
void recompute(benchmark::State& s) {
  const int kind = int(s.range(0));
  M w = M::Random(kRows, kRows) * 0.1, x = M::Random(kRows, kBatch), z(kRows, kBatch),
    d(kRows, kBatch);
  Eigen::VectorXd b = Eigen::VectorXd::Random(kRows);
  for (auto _ : s) {
    if (kind != 2) {
      z.colwise() = b;
      z.noalias() += w * x;
    } else {
      z = x;
    }
    if (kind != 1) tanh_block(z.data(), d.data(), kBlock);
    benchmark::ClobberMemory();
  }
  if (kind != 2)
    s.counters["GFLOPs"] = benchmark::Counter(2.0 * kRows * kRows * kBatch,
                                              benchmark::Counter::kIsIterationInvariantRate);
  if (kind != 1)
    s.counters["ns_per_tanh"] = benchmark::Counter(
        double(kBlock), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// 64-byte aligned (the non-temporal stores need it); pages touched once.
double* buffer() {
  static double* b = [] {
    auto* p = static_cast<double*>(std::aligned_alloc(64, kBuffer));
    std::fill(p, p + kBuffer / sizeof(double), 1.0);
    return p;
  }();
  return b;
}

// kind 0: ordinary stores (std::copy of an L1/L2-resident block); 1: non-temporal stores.
void stream_write(benchmark::State& s) {
  const int kind = int(s.range(0));
  double* buf = buffer();
  std::vector<double> src(kBlock, 0.5);
  std::size_t k = 0;
  for (auto _ : s) {
    double* dst = buf + (k++ % kBlocks) * kBlock;
    if (kind == 0) {
      std::copy(src.begin(), src.end(), dst);
    } else {
      for (std::size_t i = 0; i < kBlock; i += 8)
        _mm512_stream_pd(dst + i, _mm512_loadu_pd(src.data() + i));
      _mm_sfence();
    }
    benchmark::ClobberMemory();
  }
  s.SetBytesProcessed(std::int64_t(s.iterations()) * std::int64_t(kBlock * sizeof(double)));
}

// Reads one block (summing it), walking the buffer backwards block by block.
void stream_read(benchmark::State& s) {
  const double* buf = buffer();
  std::size_t k = 0;
  for (auto _ : s) {
    const double* p = buf + (kBlocks - 1 - (k++ % kBlocks)) * kBlock;
    __m512d acc = _mm512_setzero_pd();
    for (std::size_t i = 0; i < kBlock; i += 8) acc = _mm512_add_pd(acc, _mm512_loadu_pd(p + i));
    benchmark::DoNotOptimize(acc);
  }
  s.SetBytesProcessed(std::int64_t(s.iterations()) * std::int64_t(kBlock * sizeof(double)));
}
}  // namespace

BENCHMARK(recompute)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(stream_write)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(stream_read)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
