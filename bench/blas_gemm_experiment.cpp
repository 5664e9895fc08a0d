// Lever 6 of docs/performance.md: Eigen's GEMM against OpenBLAS's cblas_dgemm (one thread) on
// the three products of one 64-wide MLP layer at batch 256 (W X, Wᵀ G, G Xᵀ). Not part of the
// build (it links Debian's libopenblas0-pthread directly, no -dev package); run by hand:
//   g++ -O3 -march=native -DNDEBUG -I/usr/include/eigen3 bench/blas_gemm_experiment.cpp \
//     /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 -lbenchmark -lpthread \
//     -o /tmp/blas_gemm && OPENBLAS_NUM_THREADS=1 /tmp/blas_gemm --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <Eigen/Core>

extern "C" {
enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };
void cblas_dgemm(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, int, int, int, double,
                 const double*, int, const double*, int, double, double*, int);
void openblas_set_num_threads(int);
}

using M = Eigen::MatrixXd;
// kind 0: Z += W X (64x64 * 64x256); 1: G_in = W^T G (64x64^T * 64x256); 2: Wbar += G X^T (64x256 * 256x64)
static void eigen(benchmark::State& s) {
  const int kind = s.range(0);
  M w = M::Random(64, 64), x = M::Random(64, 256), z = M::Random(64, 256), wb = M::Random(64, 64);
  for (auto _ : s) {
    if (kind == 0) z.noalias() += w * x;
    else if (kind == 1) z.noalias() = w.transpose() * x;
    else wb.noalias() += z * x.transpose();
    benchmark::ClobberMemory();
  }
  s.counters["GFLOPs"] = benchmark::Counter(2.0 * 64 * 64 * 256, benchmark::Counter::kIsIterationInvariantRate);
}
static void openblas(benchmark::State& s) {
  openblas_set_num_threads(1);
  const int kind = s.range(0);
  M w = M::Random(64, 64), x = M::Random(64, 256), z = M::Random(64, 256), wb = M::Random(64, 64);
  for (auto _ : s) {
    if (kind == 0) cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, 64, 256, 64, 1.0, w.data(), 64, x.data(), 64, 1.0, z.data(), 64);
    else if (kind == 1) cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, 64, 256, 64, 1.0, w.data(), 64, x.data(), 64, 0.0, z.data(), 64);
    else cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, 64, 64, 256, 1.0, z.data(), 64, x.data(), 64, 1.0, wb.data(), 64);
    benchmark::ClobberMemory();
  }
  s.counters["GFLOPs"] = benchmark::Counter(2.0 * 64 * 64 * 256, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(eigen)->DenseRange(0, 2);
BENCHMARK(openblas)->DenseRange(0, 2);
BENCHMARK_MAIN();
