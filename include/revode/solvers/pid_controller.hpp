/// The PID step-size controller, seeing only scalars (STYLE.md E4). Formulation: Söderlind
/// (2003), "Digital filters in adaptive time-stepping", ACM TOMS 29(1), eq. (34), in the
/// coefficient naming of diffrax's PIDController: with ε_n = 1 / error_norm_n and k = the
/// embedded order + 1,
///   factor = safety · ε_n^{β1/k} · ε_{n−1}^{β2/k} · ε_{n−2}^{β3/k},
///   β1 = pcoeff + icoeff + dcoeff,  β2 = −(pcoeff + 2·dcoeff),  β3 = dcoeff,
/// clipped to [factor_min, factor_max]. The defaults (0, 1, 0) are the classical integral
/// (I) controller, factor = 0.9·error_norm^{−1/k}; (0.4, 0.3, 0) is the PI controller
/// Hairer & Wanner recommend for non-stiff problems. A step is accepted when error_norm ≤ 1;
/// after a rejection the factor is capped at 1 and the history is not advanced.
#pragma once

#include "revode/core/error.hpp"

namespace revode {

struct PidOptions {
  double pcoeff = 0.0;
  double icoeff = 1.0;
  double dcoeff = 0.0;
  double safety = 0.9;
  double factor_min = 0.2;
  double factor_max = 10.0;

  void validate() const;
};

struct StepDecision {
  bool accept;
  double factor;  ///< next step = factor × this step
};

class PidController {
 public:
  explicit PidController(const PidOptions& options = {});
  /// `error_norm`: weighted RMS of the local error (≤ 1 is within rtol/atol); `error_order`:
  /// the order of the embedded method.
  StepDecision decide(double error_norm, int error_order);
  void reset();

 private:
  PidOptions options_;
  double inv_prev_ = 1.0, inv_prev2_ = 1.0;  ///< ε_{n−1}, ε_{n−2}
};

}  // namespace revode
