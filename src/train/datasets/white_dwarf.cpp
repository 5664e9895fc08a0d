/// The white-dwarf dataset: a high-accuracy solve of the analytic field, the target the
/// published experiment fits a neural ODE to (ALGORITHMS.md §6).
#include "revode/fields/white_dwarf.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/train/dataset.hpp"
#include "published_settings.hpp"

namespace revode {

Dataset white_dwarf_dataset() {
  constexpr double t0 = 0.0, t1 = 5.0;
  constexpr Index points = 1000;
  const WhiteDwarfField<double> field;
  const auto dopri5 = make_stepper<double>("dopri5");
  // rtol = atol = 1e-12 puts the data's own error far below any loss a 10-unit MLP reaches;
  // landing on the save times (no dense output) keeps the saved states at solver accuracy.
  AdaptiveSteps control;
  control.rtol = 1e-12;
  control.atol = 1e-12;
  control.max_steps = 1'000'000;
  Batch<double> y0(2, 1);
  y0 << 1.0, 0.0;
  const SaveAt save_at = SaveAt::linspace(t0, t1, points);
  const Solution<double> solution =
      solve<double>(field, *dopri5, control, save_at, t0, t1, y0, field.default_params());

  Dataset d;
  d.name = "white-dwarf";
  // The fingerprint names how the data were made, not their last bits (vectorised builds
  // round differently). Change this text whenever the generation changes.
  d.recipe = fmt::format(
      "white-dwarf v1: WhiteDwarfField C = 0.001, dopri5 rtol = atol = 1e-12, y0 = (1, 0), {} "
      "equally spaced times on [{}, {}]",
      points, t0, t1);
  d.columns = {"y1", "y2"};
  d.times = solution.ts;
  d.states.resize(2, points);
  for (Index k = 0; k < points; ++k) d.states.col(k) = solution.ys[std::size_t(k)].col(0);
  d.suggested = detail::published_settings(d.name, {2, 10, 2}, /*time_input=*/true, 1000);
  d.suggested.solver = "midpoint";
  d.suggested.control = FixedSteps{1000, 0.0};  // h = 0.005
  d.suggested.dense = true;
  return d;
}

}  // namespace revode
