/// The per-sample stopping rule of the DEQ forward and adjoint iterations (internal to deq):
/// every column j must satisfy ‖d_j‖ < tol·‖r_j‖ + 1e-8, where d is the change (z − f(z), or
/// g_{k+1} − g_k) and r the reference (f(z), or g_{k+1}).
#pragma once

#include <algorithm>
#include <cmath>

#include "revode/core/types.hpp"
#include "revode/deq/fixed_point.hpp"

namespace revode::deq_detail {

struct RuleCheck {
  bool met = true;        ///< every column satisfies the rule
  double relative = 0.0;  ///< max_j ‖d_j‖ / ‖r_j‖ (0 where d_j = 0); NaN if anything is
};

/// d and r are views of equal shape, dim × batch.
template <class D, class R>
RuleCheck check_rule(const D& d, const R& r, double tol) {
  RuleCheck out;
  for (Index j = 0; j < d.cols(); ++j) {
    const double dn = static_cast<double>(d.col(j).norm());
    const double rn = static_cast<double>(r.col(j).norm());
    if (!std::isfinite(dn) || !std::isfinite(rn)) return {false, std::nan("")};
    out.met = out.met && dn < tol * rn + kDeqAbsoluteTol;
    if (dn > 0) out.relative = std::max(out.relative, dn / std::max(rn, 1e-300));
  }
  return out;
}

}  // namespace revode::deq_detail
