#include "json_output.hpp"

#include "revode/gradients/reversible_guard.hpp"

#include <variant>

namespace revode::cli {
namespace {

template <class T>
Json states_json(const ConstBatchRef<T>& y) {
  Json samples = Json::array();
  for (Index j = 0; j < y.cols(); ++j) {
    Json state = Json::array();
    for (Index i = 0; i < y.rows(); ++i) state.push_back(double(y(i, j)));
    samples.push_back(std::move(state));
  }
  return samples;
}

Json control_json(const StepControl& control) {
  if (const auto* fixed = std::get_if<FixedSteps>(&control))
    return Json{{"fixed_steps", fixed->steps}};
  const auto& a = std::get<AdaptiveSteps>(control);
  return Json{{"rtol", a.rtol}, {"atol", a.atol}, {"max_steps", a.max_steps}, {"dtmin", a.dtmin}};
}

}  // namespace

Json guard_json(const GuardStats& g) {
  return Json{{"policy", g.policy},
              {"tolerance", g.tolerance},
              {"drift", g.drift},
              {"repaired", g.repaired},
              {"flagged", g.flagged},
              {"anchors", g.anchors},
              {"segment_steps", g.segment_steps},
              {"segments_inverted", g.segments_inverted},
              {"segments_recomputed", g.segments_recomputed},
              {"y0_cancellation", g.y0_cancellation},
              {"gradient_error_bound", g.gradient_error_bound},
              {"warning", guard_warning(g)}};
}

Json stats_json(const SolveStats& s) {
  Json j{{"nfe", s.nfe},
         {"nvjp", s.nvjp},
         {"steps", s.steps},
         {"rejected", s.rejected},
         {"stored_floats", s.stored_floats},
         {"recomputed_steps", s.recomputed_steps},
         {"reconstruction_error", s.reconstruction_error}};
  if (s.guard.active) j["guard"] = guard_json(s.guard);
  if (s.spread.chunks > 0)
    j["chunks"] = Json{
        {"count", s.spread.chunks},
        {"steps", {s.spread.min_steps, s.spread.median_steps, s.spread.max_steps}},
        {"rejected", {s.spread.min_rejected, s.spread.median_rejected, s.spread.max_rejected}}};
  return j;
}

void warn_about_guard(const GuardStats& g) {
  const std::string warning = guard_warning(g);
  if (!warning.empty()) fmt::print(stderr, "warning: {}\n", warning);
}

void warn_about_recomputation(const std::string& method, const SolveStats& s) {
  // Revolve with C slots over N steps re-runs each step about t times, t the least with
  // binomial(C + t, t) ≥ N: checkpoint:4 over a million steps is ~60 solves' work, which a
  // user waiting on it should hear about (the online placement of adaptive solves alike).
  constexpr Index kFactor = 10;
  if (method.rfind("checkpoint:", 0) != 0 || s.steps == 0 ||
      s.recomputed_steps < kFactor * s.steps)
    return;
  fmt::print(stderr,
             "warning: {} re-ran {} forward steps for a solve of {} ({:.0f}× the solve); more "
             "slots (checkpoint:C, one state each) cut the recomputation\n",
             method, s.recomputed_steps, s.steps, double(s.recomputed_steps) / double(s.steps));
}

template <class T>
Json problem_json(const Problem<T>& p) {
  return Json{{"field", p.field->name()},
              {"solver", p.stepper->name()},
              {"dtype", dtype_name<T>()},
              {"state_dim", p.field->state_dim()},
              {"batch", p.y0.cols()},
              {"param_count", p.field->param_count()},
              {"t0", p.t0},
              {"t1", p.t1},
              {"step_control", control_json(p.control)}};
}

template <class T>
Json solve_json(const Problem<T>& p, const Solution<T>& solution, double seconds) {
  Json out = problem_json(p);
  out["ts"] = solution.ts;
  Json ys = Json::array();
  for (const Batch<T>& y : solution.ys) ys.push_back(states_json<T>(y));
  out["ys"] = std::move(ys);
  out["stats"] = stats_json(solution.stats);
  out["seconds"] = seconds;
  return out;
}

template <class T>
Json grad_json(const Problem<T>& p, const std::string& method, const std::string& loss,
               const GradientResult<T>& r, double seconds) {
  Json out = problem_json(p);
  out["method"] = method;
  out["loss_function"] = loss;
  out["loss"] = r.loss;
  out["grad_norm"] = r.grad_params.template cast<double>().norm();
  Json grad_params = Json::array();
  for (Index i = 0; i < r.grad_params.size(); ++i) grad_params.push_back(double(r.grad_params[i]));
  out["grad_params"] = std::move(grad_params);
  out["grad_y0"] = states_json<T>(r.grad_y0);
  out["ts"] = r.ts;
  out["stats"] = stats_json(r.stats);
  out["seconds"] = seconds;
  return out;
}

#define REVODE_CLI_JSON_INSTANTIATE(T)                                                  \
  template Json problem_json<T>(const Problem<T>&);                                     \
  template Json solve_json<T>(const Problem<T>&, const Solution<T>&, double);           \
  template Json grad_json<T>(const Problem<T>&, const std::string&, const std::string&, \
                             const GradientResult<T>&, double);
REVODE_CLI_JSON_INSTANTIATE(float)
REVODE_CLI_JSON_INSTANTIATE(double)
#undef REVODE_CLI_JSON_INSTANTIATE

}  // namespace revode::cli
