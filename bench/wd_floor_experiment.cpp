// Session 8 of docs/performance.md: the floor of the white-dwarf reversible gradient
// (gradient/mlp[t,y]-10-2/reversible:midpoint/reversible/1000: MLP [t, y] → 10 tanh → 2,
// float64, batch 1, McCallum–Foster over the midpoint rule, λ = 0.999, 1000 steps on [0, 10],
// loss = mean square of Y at all 1001 times) with none of the library's layers: the same
// fixed-size kernels (src/nn/small_mlp.hpp) called straight from one loop, states in plain
// arrays, σ of the backward pass's evaluations kept for its VJPs as the forward tape does.
// It does what revode's reversible backprop does per step — 4 evaluations forward, 4 to
// rebuild the step, 4 VJPs on the kept σ — so its time is what the kernels and the
// dependency chain between them cost, and the gap to the benchmark is the library's layers.
// Not part of the build; run by hand from the repository root after building revode:
//   g++ -O3 -march=native -DNDEBUG -std=c++20 -DFMT_SHARED -Iinclude -Isrc/nn \
//     -isystem /usr/include/eigen3 bench/wd_floor_experiment.cpp build/librevode.a -lfmt \
//     -lbenchmark -lpthread -o /tmp/wd_floor && /tmp/wd_floor --benchmark_repetitions=5 \
//     --benchmark_report_aggregates_only=true
// `check` compares each variant's gradient with revode's (they agree to round-off: the same
// arithmetic, in places another order of the same sums). Variants: `fused` calls the kernels
// straight from the loop; `via_field` goes through CountingField and Mlp::eval/vjp (the Mlp's
// step-order tape keeping σ); `via_stepper` also runs the midpoint steps and their VJPs
// through ExplicitRK.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <cstdlib>

#include "revode/core/counting_field.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/explicit_rk.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/solvers/tableaux/registry.hpp"
#include "small_mlp.hpp"

namespace {
using namespace revode;
constexpr int kSteps = 1000, kHidden = 10;
constexpr double kLambda = 0.999, kT1 = 10.0;
using State = std::array<double, 2>;
using Sigma = std::array<double, kHidden>;

struct Net {
  Mlp<double> mlp{parse_mlp_spec("2,10,2", Activation::tanh, true)};
  Vector<double> theta = mlp.init_params(Init::pytorch_default, 0);
  const small_mlp::Kernels<double>* k = small_mlp::find<double>(mlp.spec());
  // Through the field interface instead (fused/via-field): CountingField → Mlp::eval/vjp with
  // Eigen views, the Mlp's own forward tape keeping σ as in reversible backprop.
  bool via_field = false, via_stepper = false;
  ExplicitRK<double> rk{find_tableau("midpoint")};
  mutable Batch<double> tape = Batch<double>(2, 2), vjp_tape = Batch<double>::Zero(2, 2);
  CountingField<double> counted{mlp};
  void eval(double t, const double* y, double* dy, double* sigma) const {
    if (!via_field) return k->eval(t, y, theta.data(), dy, sigma);
    counted.eval(t, Eigen::Map<const Batch<double>>(y, 2, 1), theta, Eigen::Map<Batch<double>>(dy, 2, 1));
  }
  void vjp(double t, const double* y, const double* a, double* y_bar, double* theta_bar,
           const double* sigma) const {
    if (!via_field) return k->vjp(t, y, theta.data(), a, y_bar, theta_bar, sigma);
    counted.vjp(t, Eigen::Map<const Batch<double>>(y, 2, 1), theta, Eigen::Map<const Batch<double>>(a, 2, 1),
                Eigen::Map<Batch<double>>(y_bar, 2, 1), Eigen::Map<Vector<double>>(theta_bar, theta.size()));
  }
};

/// One midpoint step x1 = x0 + h f(t + h/2, x0 + h/2 f(t, x0)); σ of both stages into s and
/// the second stage's input into mid (the library's step tape keeps the stages instead).
inline State midpoint(const Net& n, double t, double h, const State& x0, Sigma* s,
                      State* mid_out = nullptr) {
  if (n.via_stepper) {  // ExplicitRK's step on the field interface; its tape keeps the stages
    State x1;
    n.rk.step_unchained(n.counted, t, t + h, Eigen::Map<const Batch<double>>(x0.data(), 2, 1),
                        n.theta, Eigen::Map<Batch<double>>(x1.data(), 2, 1), n.tape, nullptr);
    if (mid_out)
      for (int r = 0; r < 2; ++r) (*mid_out)[r] = n.tape(r, 0);  // k1, for the VJP's stage input
    return x1;
  }
  State k1, mid, k2;
  n.eval(t, x0.data(), k1.data(), s ? s[0].data() : nullptr);
  for (int r = 0; r < 2; ++r) mid[r] = x0[r] + (0.5 * h) * k1[r];
  n.eval(t + 0.5 * h, mid.data(), k2.data(), s ? s[1].data() : nullptr);
  if (mid_out) *mid_out = mid;
  return {x0[0] + h * k2[0], x0[1] + h * k2[1]};
}

/// x̄0 of midpoint at x0 given x̄1, θ̄ accumulated, on the kept σ of its two stages.
inline State midpoint_vjp(const Net& n, double t, double h, const State& x0, const State& mid,
                          const State& x1_bar, const Sigma* s, double* theta_bar) {
  State a2, mid_bar, a1, x0_bar;
  if (n.via_stepper) {  // mid holds k1 here; the step's tape is rebuilt from it
    Batch<double>& tape = n.vjp_tape;
    tape.col(0) << mid[0], mid[1];  // midpoint's VJP never reads k2
    n.rk.step_vjp(n.counted, t, t + h, Eigen::Map<const Batch<double>>(x0.data(), 2, 1), n.theta,
                  tape, Eigen::Map<const Batch<double>>(x1_bar.data(), 2, 1),
                  Eigen::Map<Batch<double>>(x0_bar.data(), 2, 1),
                  Eigen::Map<Vector<double>>(theta_bar, n.theta.size()));
    return x0_bar;
  }
  for (int r = 0; r < 2; ++r) a2[r] = h * x1_bar[r];
  n.vjp(t + 0.5 * h, mid.data(), a2.data(), mid_bar.data(), theta_bar, s[1].data());
  for (int r = 0; r < 2; ++r) a1[r] = (0.5 * h) * mid_bar[r];
  n.vjp(t, x0.data(), a1.data(), x0_bar.data(), theta_bar, s[0].data());
  for (int r = 0; r < 2; ++r) x0_bar[r] += x1_bar[r] + mid_bar[r];
  return x0_bar;
}

/// The reversible gradient: forward keeps only the final state; backward rebuilds each step.
double fused_gradient(const Net& n, Vector<double>& theta_bar) {
  const double h = kT1 / kSteps, scale = 1.0 / (2.0 * (kSteps + 1));
  State y{0.5, 0.5}, z = y;
  for (int i = 0; i < kSteps; ++i) {
    const double t0 = i * h, t1 = (i + 1) * h;
    const State p = midpoint(n, t0, h, z, nullptr);
    State y1;
    for (int r = 0; r < 2; ++r) y1[r] = kLambda * (y[r] - z[r]) + p[r];
    const State q = midpoint(n, t1, -h, y1, nullptr);
    for (int r = 0; r < 2; ++r) z[r] = z[r] + (y1[r] - q[r]);
    y = y1;
  }
  theta_bar.setZero();
  if (n.via_field || n.via_stepper) n.mlp.record_forwards(1 << 16, Mlp<double>::TapeOrder::step);
  State y_bar{2 * scale * y[0], 2 * scale * y[1]}, z_bar{0, 0};
  Sigma s_back[2], s_fwd[2];
  State mid_back, mid_fwd;
  for (int i = kSteps - 1; i >= 0; --i) {
    const double t0 = i * h, t1 = (i + 1) * h;
    // Rebuild (Y0, Z0) from (Y1, Z1), keeping σ of both base steps.
    const State q = midpoint(n, t1, -h, y, s_back, &mid_back);
    State z0, y0;
    for (int r = 0; r < 2; ++r) z0[r] = z[r] - (y[r] - q[r]);
    const State p = midpoint(n, t0, h, z0, s_fwd, &mid_fwd);
    for (int r = 0; r < 2; ++r) y0[r] = (y[r] - p[r]) / kLambda + z0[r];
    // VJP of Z1 = Z0 + Y1 − Φ_{−h}(Y1), then of Y1 = λ (Y0 − Z0) + Φ_h(Z0).
    const State minus_z_bar{-z_bar[0], -z_bar[1]};
    const State j = midpoint_vjp(n, t1, -h, y, mid_back, minus_z_bar, s_back, theta_bar.data());
    State y1b;
    for (int r = 0; r < 2; ++r) y1b[r] = j[r] + y_bar[r] + z_bar[r];
    const State g = midpoint_vjp(n, t0, h, z0, mid_fwd, y1b, s_fwd, theta_bar.data());
    for (int r = 0; r < 2; ++r) {
      z_bar[r] = -kLambda * y1b[r] + z_bar[r] + g[r];
      y_bar[r] = kLambda * y1b[r] + 2 * scale * y0[r];  // the loss term at t0
    }
    y = y0;
    z = z0;
    if (n.via_field || n.via_stepper) n.mlp.drop_forwards();
  }
  if (n.via_field || n.via_stepper) n.mlp.record_forwards(0);
  return y_bar[0] + z_bar[0];
}

/// mode 0: fused, 1: via_field, 2: via_stepper (the variants of the header).
void variant(benchmark::State& state, int mode) {
  Net n;
  n.via_field = mode == 1;
  n.via_stepper = mode == 2;
  Vector<double> theta_bar(n.theta.size());
  for (auto _ : state) benchmark::DoNotOptimize(fused_gradient(n, theta_bar));
}
BENCHMARK_CAPTURE(variant, fused, 0)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(variant, via_field, 1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(variant, via_stepper, 2)->Unit(benchmark::kMillisecond);

void check(benchmark::State& state) {
  const auto stepper = make_stepper<double>("reversible:midpoint");
  const auto method = make_gradient_method<double>("reversible");
  MseZero<double> loss;
  const Batch<double> y0 = Batch<double>::Constant(2, 1, 0.5);
  double err[3] = {0, 0, 0};
  for (auto _ : state)
    for (int mode = 0; mode < 3; ++mode) {  // fused, via_field, via_stepper
      Net n;
      n.via_field = mode == 1;
      n.via_stepper = mode == 2;
      Vector<double> theta_bar(n.theta.size());
      fused_gradient(n, theta_bar);
      const GradientProblem<double> problem{
          n.mlp, *stepper, FixedSteps{kSteps}, SaveAt::every_step(), 0.0, kT1, y0, n.theta, loss};
      const auto r = method->compute(problem);
      err[mode] = (r.grad_params - theta_bar).norm() / r.grad_params.norm();
      if (std::getenv("WD_FLOOR_PRINT"))
        for (int i = 0; i < 6; ++i)
          std::printf("%d %d %.17g %.17g\n", mode, i, theta_bar[i], r.grad_params[i]);
    }
  state.counters["fused_difference"] = err[0];
  state.counters["via_field_difference"] = err[1];
  state.counters["via_stepper_difference"] = err[2];
}
BENCHMARK(check)->Iterations(1);
}  // namespace

BENCHMARK_MAIN();
