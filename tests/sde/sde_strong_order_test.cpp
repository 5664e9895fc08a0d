// Strong order of every SDE solver on every noise type it supports, against closed forms,
// driven by the same Brownian paths at every step size (one virtual Brownian tree; the step
// grids are dyadic, so every query lands on a tree node and the path is exact Brownian
// motion there). The mean absolute error at t = 1 over 256 paths, for 8 … 128 steps, must
// fall with a least-squares slope within ±0.15 of the solver's order.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "revode/sde/sde_steppers.hpp"
#include "revode/solvers/integrate.hpp"
#include "support/sde_cases.hpp"

namespace revode {
namespace {

using testing::LinearSde;
using testing::make_linear_sde;

constexpr Index kPaths = 256;
constexpr double kT = 1.0;

Batch<double> initial_state() { return Vector<double>{{1.0, 0.8}}.replicate(1, kPaths); }

/// The exact y(T) on each path (Itô or Stratonovich).
Batch<double> exact(const LinearSde& s, const BrownianTree& w, bool ito) {
  return testing::exact_linear_sde(s, w, kT, initial_state(), ito);
}

double mean_error(const std::string& solver, const LinearSde& s,
                  const std::shared_ptr<const BrownianTree>& w, Index steps,
                  const Batch<double>& reference) {
  const auto stepper = make_sde_stepper<double>(solver, {}, w, *s.field);
  const Solution<double> out =
      solve<double>(*s.field, *stepper, FixedSteps{steps}, SaveAt::final_time(kT), 0.0, kT,
                    initial_state(), s.theta);
  return (out.ys.back() - reference).colwise().norm().mean();
}

struct OrderCase {
  std::string solver;
  NoiseType noise;
  double order;
};

class SdeStrongOrder : public ::testing::TestWithParam<OrderCase> {};

TEST_P(SdeStrongOrder, SlopeMatchesTheOrder) {
  const OrderCase& c = GetParam();
  const LinearSde s = make_linear_sde(c.noise);
  const auto w = std::make_shared<const BrownianTree>(0.0, kT, s.noise_dim, 2024);
  // The Ornstein–Uhlenbeck reference costs a quadrature of each path: computed once.
  static std::map<int, Batch<double>> references;
  const int key = int(c.noise) * 2 + (c.solver == "euler" ? 1 : 0);
  if (!references.contains(key)) references[key] = exact(s, *w, c.solver == "euler");
  const Batch<double>& reference = references[key];
  // Least squares of log(error) on log(h).
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int n = 0;
  std::string errors;
  for (Index steps = 8; steps <= 128; steps *= 2, ++n) {
    const double x = std::log(kT / double(steps));
    const double e = mean_error(c.solver, s, w, steps, reference);
    const double y = std::log(e);
    errors += fmt::format(" {}:{:.3g}", steps, e);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  RecordProperty("slope", fmt::format("{:.3f}", slope));
  EXPECT_NEAR(slope, c.order, 0.15)
      << c.solver << " " << noise_type_name(c.noise) << " errors" << errors;
}

std::vector<OrderCase> order_cases() {
  std::vector<OrderCase> cases;
  const NoiseType multiplicative[] = {NoiseType::diagonal, NoiseType::scalar, NoiseType::general};
  for (NoiseType noise : multiplicative) {
    cases.push_back({"euler", noise, 0.5});  // Euler–Maruyama, Itô
    for (const char* strat : {"heun", "midpoint", "reversible-heun", "reversible:heun"})
      cases.push_back({strat, noise, 1.0});  // commutative noise: order 1
  }
  for (const char* solver : {"euler", "heun", "midpoint", "reversible-heun", "reversible:heun"})
    cases.push_back({solver, NoiseType::additive, 1.0});
  return cases;
}

std::string order_case_name(const ::testing::TestParamInfo<OrderCase>& info) {
  return testing::sde_case_name(info.param.solver, info.param.noise);
}

INSTANTIATE_TEST_SUITE_P(SdeSolvers, SdeStrongOrder, ::testing::ValuesIn(order_cases()),
                         order_case_name);

}  // namespace
}  // namespace revode
