/// The reconstruction guard: the policy on a first walk's drift and the segmented repair
/// (see reversible_guard.hpp).
#include "revode/gradients/reversible_guard.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace revode {

GuardPolicy parse_guard_policy(std::string_view name) {
  if (name == "repair") return GuardPolicy::repair;
  if (name == "error") return GuardPolicy::error;
  if (name == "warn") return GuardPolicy::warn;
  throw Error(fmt::format("reversible guard policy '{}'; expected repair, error or warn", name));
}

std::string guard_policy_name(GuardPolicy policy) {
  switch (policy) {
    case GuardPolicy::repair: return "repair";
    case GuardPolicy::error: return "error";
    case GuardPolicy::warn: return "warn";
  }
  return "repair";
}

void ReversibleGuard::validate() const {
  require(tolerance == 0 || (std::isfinite(tolerance) && tolerance > 0 && tolerance < 1),
          "reversible guard tolerance {}; expected a relative error in (0, 1), or 0 for the "
          "default (1e-10 in float64, 1e-4 in float32)",
          tolerance);
}

namespace {

/// log ρ, the drift's growth per step: (drift/eps)^(1/steps). A walk that overflowed grew
/// at least as fast as one that reached the largest double. As a difference of logarithms:
/// the largest double over eps overflows to inf, which would make every overflowed walk's
/// segments one step long (an anchor per step) and put its crossing one step from the end.
double log_growth(double drift, double eps, Index steps) {
  const double reached = std::isfinite(drift) ? drift : std::numeric_limits<double>::max();
  return std::max(std::log(reached) - std::log(eps), 0.0) / double(std::max<Index>(steps, 1));
}

}  // namespace

Index guard_segment_length(double drift, double tolerance, double eps, Index steps) {
  const double rate = log_growth(drift, eps, steps);
  if (rate <= 0) return std::max<Index>(steps, 1);
  // ε ρ^K ≤ √(tol ε): half the tolerance's headroom, so segments meet it with room to spare.
  const double k = 0.5 * std::log(std::max(tolerance / eps, 1.0)) / rate;
  return std::clamp<Index>(Index(std::floor(std::min(k, double(steps)))), 1, std::max<Index>(steps, 1));
}

Index guard_crossing_step(double drift, double tolerance, double eps, Index steps) {
  const double rate = log_growth(drift, eps, steps);
  if (rate <= 0) return steps;
  const double n = std::log(std::max(tolerance / eps, 1.0)) / rate;
  return std::clamp<Index>(Index(std::ceil(std::min(n, double(steps)))), 1, std::max<Index>(steps, 1));
}

double guard_target(double tolerance, double cancellation, double eps) {
  return std::max(tolerance / cancellation, 16 * eps);
}

bool guard_accepts(GuardPolicy policy, double tolerance, double eps, double drift, Index steps,
                   const std::string& what, const std::string& advice, GuardStats& stats,
                   double y0_cancellation) {
  stats.active = true;
  stats.policy = guard_policy_name(policy);
  stats.tolerance = tolerance;
  stats.drift = drift;
  stats.y0_cancellation = y0_cancellation;
  stats.gradient_error_bound = drift * y0_cancellation;
  if (stats.gradient_error_bound <= tolerance) return true;
  switch (policy) {
    case GuardPolicy::warn:
      stats.flagged = true;
      return true;
    case GuardPolicy::error: {
      // A drift within the tolerance refused for ȳ0's cancellation says so.
      const std::string amplified =
          y0_cancellation > 1
              ? fmt::format(", which ȳ0 (its parts cancel {:.1e}-fold) turns into an error of "
                            "about {:.3e}",
                            y0_cancellation, stats.gradient_error_bound)
              : std::string();
      throw ReconstructionError(fmt::format(
          "{}: the backward walk rebuilt the start state with a relative drift of {:.3e}{}, "
          "beyond the reversible guard's tolerance {:.3e}, so its gradient would be wrong; at "
          "the measured growth rate the drift crossed the tolerance about {} of {} steps back "
          "from the end. {} Or let the guard repair it (policy repair, the default: "
          "--reversible-guard repair), which rebuilds the drifting segments by forward "
          "recomputation.",
          what, drift, amplified, tolerance,
          guard_crossing_step(drift, guard_target(tolerance, y0_cancellation, eps), eps, steps),
          steps, advice));
    }
    case GuardPolicy::repair:
      break;
  }
  return false;
}

std::string guard_warning(const GuardStats& g) {
  if (!g.repaired && !g.flagged) return {};
  // A drift within the tolerance is repaired or flagged for ȳ0's cancellation alone.
  const std::string why =
      g.drift <= g.tolerance
          ? fmt::format("drifted by {:.2e}, within the tolerance {:.2e} but not for ȳ0, whose "
                        "parts cancel {:.1e}-fold",
                        g.drift, g.tolerance, g.y0_cancellation)
          : fmt::format("drifted by {:.2e} (tolerance {:.2e})", g.drift, g.tolerance);
  if (g.repaired)
    return fmt::format(
        "reversible guard: the backward reconstruction {}; repaired with {} anchors ({} segments "
        "recomputed forwards), gradient exact to about {:.1e}{}",
        why, g.anchors, g.segments_recomputed, g.gradient_error_bound,
        g.flagged ? ", above the tolerance (ȳ0's cancellation asks for more than round-off "
                    "allows)"
                  : "");
  return fmt::format(
      "reversible guard: the backward reconstruction {}; the gradient is returned unrepaired "
      "(policy warn) and may be wrong by about {:.1e}",
      why, g.gradient_error_bound);
}

template <class T>
Index guard_repair(GuardedWalk<T>& walk, const ConstBatchRef<T>& x0, double tolerance, double eps,
                   double first_drift, GuardStats& stats) {
  const Index n_steps = walk.steps();
  stats.segments_inverted = stats.segments_recomputed = 0;
  const Index k = guard_segment_length(first_drift, tolerance, eps, n_steps);
  const Index segments = (n_steps + k - 1) / k;
  const auto segment_end = [&](Index s) { return std::min((s + 1) * k, n_steps); };

  walk.restart();
  // Forward replay from the true start: the anchors x_{sK} and the end state x_N.
  std::vector<Batch<T>> anchors(static_cast<std::size_t>(segments));
  Batch<T> x = x0;
  for (Index s = 0; s < segments; ++s) {
    anchors[std::size_t(s)] = x;
    for (Index n = s * k; n < segment_end(s); ++n) walk.advance(n, x);
  }
  const Batch<T> end = std::move(x);

  const Index state_floats = end.size();
  Index peak = (segments + 1) * state_floats;
  double worst = 0;
  std::vector<Batch<T>> stored;
  for (Index s = segments - 1; s >= 0; --s) {
    const Index from = s * k, to = segment_end(s);
    const Batch<T>& start = anchors[std::size_t(s)];
    const Batch<T>& stop = s + 1 < segments ? anchors[std::size_t(s + 1)] : end;
    walk.mark();
    walk.current() = stop;
    for (Index n = to - 1; n >= from; --n) walk.undo_by_inverse(n);
    const double drift = walk.drift(walk.current(), start);
    if (drift <= tolerance) {
      worst = std::max(worst, drift);
      ++stats.segments_inverted;
      continue;
    }
    // Still drifting here (the growth was not uniform): this segment's states come from a
    // forward replay from its start anchor instead.
    walk.rewind();
    stored.resize(std::size_t(to - from));
    Batch<T> y = start;
    for (Index n = from; n < to; ++n) {
      stored[std::size_t(n - from)] = y;
      walk.advance(n, y);
    }
    walk.current() = stop;
    for (Index n = to - 1; n >= from; --n) walk.undo_from(n, stored[std::size_t(n - from)]);
    ++stats.segments_recomputed;
    peak = std::max(peak, (segments + 1 + (to - from)) * state_floats);
  }
  stats.repaired = true;
  stats.anchors = segments;
  stats.segment_steps = k;
  stats.gradient_error_bound = worst;
  return peak + walk.stored_floats();
}

template Index guard_repair<float>(GuardedWalk<float>&, const ConstBatchRef<float>&, double, double,
                                   double, GuardStats&);
template Index guard_repair<double>(GuardedWalk<double>&, const ConstBatchRef<double>&, double,
                                    double, double, GuardStats&);

}  // namespace revode
