/// TrainSettings ⇄ JSON: one table of keys, each with its reader and its check, shared by
/// config files, checkpoints and parameter files.
#include "revode/train/train_settings.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "revode/core/error.hpp"
#include "revode/core/json_reading.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/sde/brownian_tree.hpp"
#include "revode/sde/sde_field.hpp"
#include "revode/solvers/tableaux/registry.hpp"

namespace revode {
namespace {

using Json = nlohmann::ordered_json;

std::string_view init_name(Init init) { return init == Init::glorot ? "glorot" : "pytorch"; }

Init parse_init(std::string_view name) {
  if (name == "pytorch") return Init::pytorch_default;
  if (name == "glorot") return Init::glorot;
  throw Error(fmt::format("'{}' is not an initialiser (known: pytorch, glorot)", name));
}

// Typed readers: each throws a message that the caller prefixes with the source and key.
double number(const Json& j) {
  require(j.is_number(), "expected a number, got {}", json_excerpt(j));
  return j.get<double>();
}
double positive(const Json& j) {
  const double x = number(j);
  require(x > 0 && std::isfinite(x), "{} is not a finite number > 0", x);
  return x;
}
double non_negative(const Json& j) {
  const double x = number(j);
  require(x >= 0 && std::isfinite(x), "{} is not a finite number >= 0", x);
  return x;
}
Index count(const Json& j, Index minimum) {
  require(j.is_number_integer(), "expected an integer, got {}", json_excerpt(j));
  // Above 2^63 − 1 nlohmann keeps an unsigned value, which as int64 would read negative.
  require(!j.is_number_unsigned() ||
              j.get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<std::int64_t>::max()),
          "{} is above the largest integer {}", json_excerpt(j),
          std::numeric_limits<std::int64_t>::max());
  require(j.get<std::int64_t>() >= minimum, "{} is below the minimum {}", json_excerpt(j), minimum);
  return Index(j.get<std::int64_t>());
}
std::string string_of(const Json& j) {
  require(j.is_string(), "expected a string, got {}", json_excerpt(j));
  return j.get<std::string>();
}
bool flag(const Json& j) {
  require(j.is_boolean(), "expected true or false, got {}", json_excerpt(j));
  return j.get<bool>();
}

AdaptiveSteps& adaptive(TrainSettings& s) {
  if (!std::holds_alternative<AdaptiveSteps>(s.control)) s.control = AdaptiveSteps{};
  return std::get<AdaptiveSteps>(s.control);
}

using Reader = std::function<void(TrainSettings&, const Json&)>;

/// The one list of keys, in the order settings_to_json writes them.
const std::vector<std::pair<std::string, Reader>>& keys() {
  static const std::vector<std::pair<std::string, Reader>> table{
      {"dataset", [](TrainSettings& s, const Json& j) { s.dataset = string_of(j); }},
      {"field", [](TrainSettings& s, const Json& j) { s.field = string_of(j); }},
      {"widths",
       [](TrainSettings& s, const Json& j) {
         require(j.is_array(), "expected an array of layer widths, got {}", json_excerpt(j));
         s.model.widths.clear();
         for (const Json& w : j) s.model.widths.push_back(count(w, 1));
         validate(s.model);
       }},
      {"activation",
       [](TrainSettings& s, const Json& j) { s.model.activation = parse_activation(string_of(j)); }},
      {"time_input", [](TrainSettings& s, const Json& j) { s.model.time_input = flag(j); }},
      {"init", [](TrainSettings& s, const Json& j) { s.init = parse_init(string_of(j)); }},
      {"solver", [](TrainSettings& s, const Json& j) { s.solver = string_of(j); }},
      {"coupling",
       [](TrainSettings& s, const Json& j) {
         s.coupling = positive(j);
         require(s.coupling <= 1, "{} is not in (0, 1]", s.coupling);
       }},
      {"steps", [](TrainSettings& s, const Json& j) { s.control = FixedSteps{count(j, 1), 0.0}; }},
      {"dt", [](TrainSettings& s, const Json& j) { s.control = FixedSteps{0, positive(j)}; }},
      {"rtol", [](TrainSettings& s, const Json& j) { adaptive(s).rtol = positive(j); }},
      {"atol", [](TrainSettings& s, const Json& j) { adaptive(s).atol = positive(j); }},
      {"max_steps", [](TrainSettings& s, const Json& j) { adaptive(s).max_steps = count(j, 1); }},
      {"dense", [](TrainSettings& s, const Json& j) { s.dense = flag(j); }},
      {"method", [](TrainSettings& s, const Json& j) { s.method = string_of(j); }},
      {"reversible_guard",
       [](TrainSettings& s, const Json& j) { s.reversible_guard = string_of(j); }},
      {"optimizer",
       [](TrainSettings& s, const Json& j) { s.optimizer.kind = parse_optimizer(string_of(j)); }},
      {"lr", [](TrainSettings& s, const Json& j) { s.lr = positive(j); }},
      {"weight_decay",
       [](TrainSettings& s, const Json& j) { s.optimizer.weight_decay = non_negative(j); }},
      {"beta1", [](TrainSettings& s, const Json& j) { s.optimizer.beta1 = non_negative(j); }},
      {"beta2", [](TrainSettings& s, const Json& j) { s.optimizer.beta2 = non_negative(j); }},
      {"eps", [](TrainSettings& s, const Json& j) { s.optimizer.eps = positive(j); }},
      {"schedule", [](TrainSettings& s, const Json& j) { s.schedule = parse_schedule(string_of(j)); }},
      {"final_lr", [](TrainSettings& s, const Json& j) { s.final_lr = non_negative(j); }},
      {"clip",
       [](TrainSettings& s, const Json& j) {
         // JSON has no infinity: null means "no clipping".
         s.clip = j.is_null() ? std::numeric_limits<double>::infinity() : positive(j);
       }},
      {"iterations", [](TrainSettings& s, const Json& j) { s.iterations = count(j, 1); }},
      {"batch_size", [](TrainSettings& s, const Json& j) { s.batch_size = count(j, 0); }},
      {"batch_chunks", [](TrainSettings& s, const Json& j) { s.batch_chunks = count(j, 1); }},
      {"seed",
       [](TrainSettings& s, const Json& j) {
         require(j.is_number_unsigned() || (j.is_number_integer() && j.get<std::int64_t>() >= 0),
                 "expected an integer >= 0, got {}", json_excerpt(j));
         s.seed = j.get<std::uint64_t>();
       }},
      {"diffusion", [](TrainSettings& s, const Json& j) { s.diffusion = string_of(j); }},
      {"noise",
       [](TrainSettings& s, const Json& j) {
         s.noise = string_of(j);
         (void)parse_noise_type(s.noise);
       }},
      {"brownian_seed", [](TrainSettings& s, const Json& j) { s.brownian_seed = count(j, 0); }},
  };
  return table;
}

/// The 1-based line of the first occurrence of "key" in text (0 when not found).
std::size_t line_of(std::string_view text, const std::string& key) {
  const std::size_t at = text.find('"' + key + '"');
  if (at == std::string_view::npos) return 0;
  return 1 + std::size_t(std::count(text.begin(), text.begin() + std::ptrdiff_t(at), '\n'));
}

std::string where(std::string_view source, std::string_view text, const std::string& key) {
  // A one-line text (a command-line flag turned into JSON) has no line worth naming.
  const std::size_t line = text.find('\n') == std::string_view::npos ? 0 : line_of(text, key);
  return line > 0 ? fmt::format("{} line {}: '{}'", source, line, key)
                  : fmt::format("{}: '{}'", source, key);
}

Json parse_object(std::string_view text, std::string_view source) {
  // Depth-limited; nlohmann's message carries line and column.
  const Json doc = parse_json_text<Json>(text, source);
  require(doc.is_object(), "{}: expected a JSON object {{\"key\": value, ...}}, got {}", source,
          doc.type_name());
  return doc;
}

Json to_json_object(const TrainSettings& s) {
  Json j;
  j["dataset"] = s.dataset;
  // Written only when set, so MLP settings (and their checkpoints) read as before the key.
  if (!s.field.empty()) j["field"] = s.field;
  j["widths"] = s.model.widths;
  j["activation"] = activation_name(s.model.activation);
  j["time_input"] = s.model.time_input;
  j["init"] = init_name(s.init);
  j["solver"] = s.solver;
  j["coupling"] = s.coupling;
  if (const auto* fixed = std::get_if<FixedSteps>(&s.control)) {
    if (fixed->steps > 0) j["steps"] = fixed->steps;
    else j["dt"] = fixed->dt;
  } else {
    const auto& a = std::get<AdaptiveSteps>(s.control);
    j["rtol"] = a.rtol;
    j["atol"] = a.atol;
    j["max_steps"] = a.max_steps;
  }
  j["dense"] = s.dense;
  j["method"] = s.method;
  j["reversible_guard"] = s.reversible_guard;
  j["optimizer"] = optimizer_name(s.optimizer.kind);
  j["lr"] = s.lr;
  j["weight_decay"] = s.optimizer.weight_decay;
  j["beta1"] = s.optimizer.beta1;
  j["beta2"] = s.optimizer.beta2;
  j["eps"] = s.optimizer.eps;
  j["schedule"] = schedule_name(s.schedule);
  j["final_lr"] = s.final_lr;
  j["clip"] = std::isinf(s.clip) ? Json(nullptr) : Json(s.clip);
  j["iterations"] = s.iterations;
  // Written only when set, so that full-batch one-chunk settings (and their checkpoints and parameter
  // files) read as they did before the key existed.
  if (s.batch_size > 0) j["batch_size"] = s.batch_size;
  if (s.batch_chunks != 1) j["batch_chunks"] = s.batch_chunks;
  j["seed"] = s.seed;
  // SDE keys only for SDEs, so that ODE settings (and their checkpoints) read as before.
  if (!s.diffusion.empty()) {
    j["diffusion"] = s.diffusion;
    j["noise"] = s.noise;
    j["brownian_seed"] = s.brownian_seed;
  }
  return j;
}

/// The SDE settings and what they exclude (the trainer checks the diffusion against the data).
void validate_sde(const TrainSettings& s) {
  if (s.diffusion.empty()) {
    require(s.noise == "diagonal" && s.brownian_seed == 0,
            "noise = '{}', brownian_seed = {}: they apply to SDEs only; set diffusion (--diffusion "
            "SPEC) or leave them out",
            s.noise, s.brownian_seed);
    return;
  }
  (void)parse_noise_type(s.noise);
  require(s.brownian_seed >= 0, "brownian_seed = {}; required: 0 … {}", s.brownian_seed,
          kMaxBrownianSeed);
  require(!s.dense,
          "diffusion '{}' with dense = true: dense output does not apply to SDEs (the "
          "path between steps is the Brownian motion's); save times split the steps instead",
          s.diffusion);
  require(!s.method.starts_with("symplectic") && !s.method.starts_with("adjoint"),
          "diffusion '{}' with method '{}': an SDE trains with backprop, anode, checkpoint:C or "
          "reversible (the exact methods of the discrete solve)",
          s.diffusion, s.method);
}

}  // namespace

std::string effective_solver(const TrainSettings& s) {
  if (s.method != "reversible") return s.solver;
  const bool plain = std::any_of(builtin_tableaux.begin(), builtin_tableaux.end(),
                                 [&](const ButcherTableau* t) { return t->name == s.solver; });
  return plain ? "reversible:" + s.solver : s.solver;
}

void validate(const TrainSettings& s) {
  require(!s.dataset.empty(), "no dataset: give white-dwarf, oscillator, pendulum or a CSV file");
  validate(s.model);
  validate(s.control);
  validate(s.optimizer);
  validate(s.schedule_spec());
  require(s.clip > 0, "clip = {}; required: > 0 (or no clipping)", s.clip);
  require(s.coupling > 0 && s.coupling <= 1, "coupling = {}; required: 0 < coupling <= 1",
          s.coupling);
  require(s.iterations >= 1, "iterations = {}; required: >= 1", s.iterations);
  require(s.batch_size >= 0, "batch_size = {}; required: >= 0 (0: every trajectory)",
          s.batch_size);
  require(s.batch_chunks >= 1, "batch_chunks = {}; required: >= 1", s.batch_chunks);
  (void)make_stepper<double>(effective_solver(s), SolverOptions{s.coupling, 1.0});
  (void)make_gradient_method<double>(s.method);
  (void)parse_guard_policy(s.reversible_guard);
  validate_sde(s);
}

std::string settings_to_json(const TrainSettings& s) { return to_json_object(s).dump(); }

TrainSettings apply_settings_json(TrainSettings s, std::string_view text,
                                  std::string_view source) {
  const Json doc = parse_object(text, source);
  const auto has = [&](const char* key) { return doc.contains(key); };
  const bool fixed = has("steps") || has("dt");
  for (const char* key : {"rtol", "atol", "max_steps"})
    require(!(fixed && has(key)),
            "{} excludes '{}': give fixed steps (steps or dt) or adaptive tolerances (rtol, "
            "atol, max_steps), not both",
            where(source, text, key), has("steps") ? "steps" : "dt");
  require(!(has("steps") && has("dt")), "{} excludes 'steps': give one of the two",
          where(source, text, "dt"));
  std::map<std::string, const Reader*> readers;
  for (const auto& [key, reader] : keys()) readers[key] = &reader;
  for (const auto& [key, value] : doc.items()) {
    const auto found = readers.find(key);
    if (found == readers.end()) {
      std::vector<std::string> known;
      for (const auto& entry : keys()) known.push_back(entry.first);
      throw Error(fmt::format("{} is not a setting (known: {})", where(source, text, key),
                              fmt::join(known, ", ")));
    }
    try {
      (*found->second)(s, value);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", where(source, text, key), e.what()));
    }
  }
  return s;
}

std::string read_text_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "{} '{}' cannot be opened", what, path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  require(!in.bad(), "{} '{}' cannot be read", what, path);
  return buffer.str();
}

TrainSettings apply_config_file(TrainSettings base, const std::string& path) {
  const std::string content = read_text_file(path, "config file");
  return apply_settings_json(std::move(base), content, fmt::format("config '{}'", path));
}

std::string dataset_in_json(std::string_view text, std::string_view source) {
  const Json doc = parse_object(text, source);
  if (!doc.contains("dataset")) return "";
  try {
    return string_of(doc["dataset"]);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", where(source, text, "dataset"), e.what()));
  }
}

std::string settings_difference(const TrainSettings& a, const TrainSettings& b) {
  const Json ja = to_json_object(a), jb = to_json_object(b);
  std::vector<std::string> differences;
  for (const auto& [key, value] : ja.items()) {
    const std::string other = jb.contains(key) ? jb.at(key).dump() : "absent";
    if (value.dump() != other)
      differences.push_back(fmt::format("{}: {} vs {}", key, value.dump(), other));
  }
  for (const auto& [key, value] : jb.items())  // control keys differ in kind (steps vs rtol)
    if (!ja.contains(key)) differences.push_back(fmt::format("{}: absent vs {}", key, value.dump()));
  return fmt::format("{}", fmt::join(differences, "; "));
}

}  // namespace revode
