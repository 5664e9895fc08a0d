#include "revode/solvers/pid_controller.hpp"

#include <algorithm>
#include <cmath>

namespace revode {

void PidOptions::validate() const {
  require(std::isfinite(pcoeff) && std::isfinite(icoeff) && std::isfinite(dcoeff),
          "PID coefficients must be finite (pcoeff = {}, icoeff = {}, dcoeff = {})", pcoeff,
          icoeff, dcoeff);
  require(pcoeff + icoeff + dcoeff > 0,
          "PID coefficients pcoeff + icoeff + dcoeff = {}; required: > 0 so that large errors "
          "shrink the step",
          pcoeff + icoeff + dcoeff);
  require(safety > 0 && safety <= 1, "PidOptions::safety = {}; required: 0 < safety <= 1",
          safety);
  require(factor_min > 0 && factor_min < 1,
          "PidOptions::factor_min = {}; required: 0 < factor_min < 1", factor_min);
  require(factor_max > 1, "PidOptions::factor_max = {}; required: factor_max > 1", factor_max);
}

PidController::PidController(const PidOptions& options) : options_(options) {
  options_.validate();
}

void PidController::reset() { inv_prev_ = inv_prev2_ = 1.0; }

StepDecision PidController::decide(double error_norm, int error_order) {
  const auto& o = options_;
  if (!std::isfinite(error_norm)) return {false, o.factor_min};
  const double k = error_order + 1.0;
  // An exactly zero error (e.g. a constant solution) would make ε infinite; cap it so the
  // history terms stay finite.
  constexpr double inv_max = 1e12;
  const double inv = error_norm > 1.0 / inv_max ? 1.0 / error_norm : inv_max;
  const double beta1 = (o.pcoeff + o.icoeff + o.dcoeff) / k;
  const double beta2 = -(o.pcoeff + 2.0 * o.dcoeff) / k;
  const double beta3 = o.dcoeff / k;
  double factor = o.safety * std::pow(inv, beta1);
  if (beta2 != 0) factor *= std::pow(inv_prev_, beta2);
  if (beta3 != 0) factor *= std::pow(inv_prev2_, beta3);
  if (!std::isfinite(factor)) factor = o.factor_max;
  factor = std::clamp(factor, o.factor_min, o.factor_max);
  const bool accept = error_norm <= 1.0;
  if (!accept) return {false, std::min(factor, 1.0)};
  inv_prev2_ = inv_prev_;
  inv_prev_ = inv;
  return {true, factor};
}

}  // namespace revode
