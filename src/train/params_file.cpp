/// Parameter files (see the header): plain JSON, so people and other tools can read them.
#include "revode/train/params_file.hpp"

#include <fmt/ranges.h>

#include <cmath>

#include "json_fields.hpp"
#include "revode/sde/drift_diffusion.hpp"
#include "revode/train/atomic_file.hpp"

namespace revode {
namespace {

using detail::Json;
constexpr const char* format_name = "revode-params";

/// The times are K equally spaced ones from the first to the last (so --saveat K finds them).
bool equally_spaced(const std::vector<double>& ts) {
  const double span = ts.back() - ts.front(), k = double(ts.size() - 1);
  for (std::size_t i = 0; i < ts.size(); ++i)
    if (std::abs(ts[i] - (ts.front() + span * double(i) / k)) > 1e-9 * std::abs(span))
      return false;
  return true;
}

/// The MLP spec of "model" (files without "model.field").
void read_mlp_model(ParamsFile& f, const Json& model, const std::string& what) {
  const Json& widths = detail::field(model, "widths", what);
  require(widths.is_array(), "{}: \"model.widths\" must be a list of integers", what);
  for (const Json& w : widths) {
    require(w.is_number_integer(), "{}: \"model.widths\" must be a list of integers", what);
    f.model.widths.push_back(Index(w.get<std::int64_t>()));
  }
  const Json& activation = detail::field(model, "activation", what);
  require(activation.is_string(), "{}: \"model.activation\" must be a string", what);
  f.model.activation = parse_activation(activation.get<std::string>());
  const Json& time_input = detail::field(model, "time_input", what);
  require(time_input.is_boolean(), "{}: \"model.time_input\" must be true or false", what);
  f.model.time_input = time_input.get<bool>();
  validate(f.model);  // θ's count is checked once the settings (an SDE's diffusion) are read
}

/// An MLP's θ, and an SDE's [θ_f; θ_g] (the diffusion's parameters follow the MLP's).
void require_mlp_param_count(const ParamsFile& f, const std::string& what) {
  const Mlp<double> mlp(f.model);
  const Index expected =
      mlp.param_count() +
      (f.settings.diffusion.empty()
           ? 0
           : make_diffusion<double>(f.settings.diffusion, parse_noise_type(f.settings.noise),
                                    mlp.state_dim(), f.model.activation, 0)
                 .default_params.size());
  require(
      f.params.size() == expected, "{} has {} parameters; model {}{} has {}", what, f.params.size(),
      mlp.name(),
      f.settings.diffusion.empty() ? "" : fmt::format(" with diffusion {}", f.settings.diffusion),
      expected);
}

}  // namespace

void save_params_file(const std::string& path, const Trainer& trainer, double seconds) {
  const Dataset& data = trainer.dataset();
  const TrainSettings& settings = trainer.settings();
  const MlpSpec& spec = settings.model;
  Json doc;
  doc["format"] = format_name;
  doc["version"] = 1;
  doc["params"] = detail::number_list(trainer.params());
  // A loaded field (settings.field) is described by its name; an MLP by its spec. θ's count
  // includes an SDE's diffusion parameters.
  doc["model"] = settings.field.empty()
                     ? Json{{"widths", spec.widths},
                            {"activation", activation_name(spec.activation)},
                            {"time_input", spec.time_input},
                            {"param_count", trainer.param_count()}}
                     : Json{{"field", settings.field}, {"param_count", trainer.param_count()}};
  doc["dataset"] = Json{{"name", data.name},
                        {"fingerprint", data.fingerprint()},
                        {"columns", data.columns},
                        {"y0", detail::number_list(data.states.col(0))},
                        {"times", data.times}};
  doc["settings"] = Json::parse(settings_to_json(trainer.settings()));
  const auto& losses = trainer.losses();
  doc["training"] = Json{{"iterations", trainer.iteration()},
                         {"best_loss", trainer.best_loss()},
                         {"best_iteration", trainer.best_iteration()},
                         {"final_loss", losses.empty() ? Json(nullptr) : Json(losses.back())},
                         {"seconds", seconds}};
  write_file_atomically(path, doc.dump(2) + "\n");
}

ParamsFile load_params_file(const std::string& path) {
  const std::string what = fmt::format("parameter file '{}'", path);
  const Json doc = detail::parse_json_object(read_text_file(path, "parameter file"), what);
  ParamsFile f;
  f.params = detail::numbers(detail::field(doc, "params", what), "params", what);
  const Json& model = detail::field(doc, "model", what);
  if (model.contains("field")) {
    require(model["field"].is_string(), "{}: \"model.field\" must be a string", what);
    f.field = model["field"].get<std::string>();
    const Json& count = detail::field(model, "param_count", what);
    require(count.is_number_integer() &&
                std::int64_t(f.params.size()) == count.get<std::int64_t>(),
            "{} has {} parameters; its field {} has {}", what, f.params.size(), f.field,
            json_excerpt(count));
  } else {
    read_mlp_model(f, model, what);
  }

  const Json& dataset = detail::field(doc, "dataset", what);
  const Json& fingerprint = detail::field(dataset, "fingerprint", what);
  require(fingerprint.is_string(), "{}: \"dataset.fingerprint\" must be a string", what);
  f.dataset_fingerprint = fingerprint.get<std::string>();
  const Vector<double> y0 = detail::numbers(detail::field(dataset, "y0", what), "y0", what);
  f.y0.assign(y0.data(), y0.data() + y0.size());
  const Vector<double> ts = detail::numbers(detail::field(dataset, "times", what), "times", what);
  f.times.assign(ts.data(), ts.data() + ts.size());
  require(f.times.size() >= 2, "{}: \"dataset.times\" needs at least 2 times", what);
  f.settings = apply_settings_json(TrainSettings{}, detail::field(doc, "settings", what).dump(),
                                   what + " settings");
  if (f.field.empty()) require_mlp_param_count(f, what);
  const Json& training = detail::field(doc, "training", what);
  const Json& iterations = detail::field(training, "iterations", what);
  require(iterations.is_number_integer(), "{}: \"training.iterations\" must be an integer", what);
  f.iterations = Index(iterations.get<std::int64_t>());
  const auto number_or_nan = [&](const char* key) {
    const Json& j = detail::field(training, key, what);
    return j.is_number() ? j.get<double>() : NAN;
  };
  f.best_loss = number_or_nan("best_loss");
  f.final_loss = number_or_nan("final_loss");
  f.seconds = number_or_nan("seconds");
  return f;
}

std::string solve_flags(const ParamsFile& f, const std::string& path) {
  std::string flags =
      !f.field.empty()
          ? fmt::format("--field {} --params {} --y0 {}", f.field, path, fmt::join(f.y0, ","))
          : fmt::format("--field mlp:{} --activation {}{} --params {} --y0 {}",
                        fmt::join(f.model.widths, ","), activation_name(f.model.activation),
                        f.model.time_input ? " --time-input" : "", path, fmt::join(f.y0, ","));
  flags += fmt::format(" --t0 {} --t1 {} --solver {}", f.times.front(), f.times.back(),
                       effective_solver(f.settings));
  if (effective_solver(f.settings).starts_with("reversible:"))
    flags += fmt::format(" --coupling {}", f.settings.coupling);
  if (const auto* fixed = std::get_if<FixedSteps>(&f.settings.control)) {
    // `revode solve` takes a number of steps; a dt becomes the count it rounds up to.
    const double span = f.times.back() - f.times.front();
    flags += fmt::format(" --steps {}", fixed->steps > 0 ? fixed->steps
                                                         : Index(std::ceil(span / fixed->dt)));
  } else {
    const auto& a = std::get<AdaptiveSteps>(f.settings.control);
    flags += fmt::format(" --rtol {} --atol {} --max-steps {}", a.rtol, a.atol, a.max_steps);
  }
  if (equally_spaced(f.times)) flags += fmt::format(" --saveat {}", f.times.size());
  if (f.settings.dense) flags += " --dense";
  if (!f.settings.diffusion.empty())  // the SDE, on the sample path of the Brownian seed
    flags += fmt::format(" --diffusion {} --noise {} --brownian-seed {}", f.settings.diffusion,
                         f.settings.noise, f.settings.brownian_seed);
  return flags;
}

}  // namespace revode
