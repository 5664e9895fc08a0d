/// Linear stability of any stepper on the test equation y' = a y, a ∈ ℂ (Hairer & Wanner II,
/// §IV.2), measured rather than derived: the step is applied to the basis vectors of the
/// solver state, so a reversible solver's extra blocks (McCallum–Foster's Z, ALF's v) are part
/// of the analysis, as they must be — a two-block scheme can be unstable where its output
/// block alone looks fine.
#pragma once

#include <Eigen/Core>
#include <complex>
#include <iosfwd>
#include <vector>

#include "revode/core/types.hpp"
#include "revode/solvers/stepper.hpp"

namespace revode {

/// The matrix of one step of length h = 1 on y' = z y, with the complex y written as the real
/// pair (Re y, Im y) (the field [[Re z, −Im z], [Im z, Re z]]): it acts on the whole solver
/// state, 2 · state_copies() rows. Column j is the step applied to the j-th basis vector
/// (all of them in one batched step). Every stepper here is linear on a linear field.
Eigen::MatrixXd step_matrix(const Stepper<double>& stepper, std::complex<double> z);

/// Spectral radius of step_matrix(stepper, z): the growth per step of the worst mode.
double amplification(const Stepper<double>& stepper, std::complex<double> z);

/// z = h·a is stable when the spectral radius is ≤ 1 + tolerance (tolerance absorbs the
/// round-off of the eigenvalues on the boundary, e.g. on the imaginary axis of a symmetric
/// method).
bool is_stable(const Stepper<double>& stepper, std::complex<double> z, double tolerance = 1e-9);

/// A rectangle of the complex plane sampled on a uniform grid (both ends included).
/// The largest |bound| of a StabilityWindow (beyond it the amplification overflows).
inline constexpr double max_stability_window = 1000.0;

struct StabilityWindow {
  double re_min = -4.0, re_max = 1.0;
  double im_min = -3.0, im_max = 3.0;
  Index re_points = 201, im_points = 241;
};

struct StabilitySample {
  double re, im;
  double radius;  ///< spectral radius of the step matrix at z = re + i·im
};

/// Samples the window, real part fastest (row-major in the image sense, bottom row first).
/// @throws revode::Error unless min < max, every bound is finite and within
/// ±max_stability_window, and ≥ 2 points on each axis (whose samples fit the memory limit).
std::vector<StabilitySample> sample_stability(const Stepper<double>& stepper,
                                              const StabilityWindow& window = {});

/// The stability interval on the real axis: the largest [lo, hi] ∋ 0 of real z that are
/// stable, found by scanning outwards from 0 in steps of search/2000 up to ±search and
/// bisecting the first unstable point to round-off. An end that never turns unstable is
/// reported as ±search. Both ends are 0 when only z = 0 is stable (reversible Heun, undamped
/// ALF); NaN when even z = 0 is not (an inconsistent method).
struct RealInterval {
  double lo, hi;
};
RealInterval real_stability_interval(const Stepper<double>& stepper, double search = 10.0,
                                     double tolerance = 1e-9);

/// Writes `re,im,radius,stable` with a header line, one sample per line (for plotting).
void write_stability_csv(std::ostream& out, const std::vector<StabilitySample>& samples,
                         double tolerance = 1e-9);

}  // namespace revode
