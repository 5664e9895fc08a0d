#include "params_file.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "problem_options.hpp"
#include "revode/cde/cde_field.hpp"
#include "revode/core/error.hpp"
#include "revode/core/json_reading.hpp"

namespace revode::cli {
namespace {

nlohmann::json parse_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "--params file '{}' cannot be opened", path);
  std::ostringstream text;
  text << in.rdbuf();
  require(!in.bad(), "--params file '{}' cannot be read", path);
  // Depth-limited (a deeply nested file must not overflow the stack); syntax errors and
  // numbers out of range are reported with nlohmann's line and column.
  return parse_json_text(text.str(), fmt::format("--params file '{}'", path),
                         "is not valid JSON with finite numbers");
}

}  // namespace

template <class T>
Vector<T> read_params_file(const std::string& path, const VectorField<T>& field,
                           const Vector<T>* defaults) {
  const nlohmann::json doc = parse_json_file(path);
  require(doc.is_object() && doc.contains("params") && doc["params"].is_array(),
          "--params file '{}': expected an object {{\"params\": [numbers...]}}", path);
  const nlohmann::json& list = doc["params"];
  // A CDE trained by `revode train` saves its network's θ alone (the observations are data).
  const auto* cde = dynamic_cast<const CdeField<T>*>(&field);
  if (cde != nullptr && Index(list.size()) == cde->network_param_count() && defaults != nullptr) {
    Vector<T> network = read_params_file(path, cde->network());
    Vector<T> theta = *defaults;
    theta.head(network.size()) = network;
    return theta;
  }
  require(Index(list.size()) == field.param_count(),
          "--params file '{}' has {} parameters; expected {} (the parameter count of field '{}')",
          path, list.size(), field.param_count(), field.name());
  Vector<T> theta(field.param_count());
  for (Index i = 0; i < theta.size(); ++i) {
    const nlohmann::json& entry = list[std::size_t(i)];
    // JSON has no NaN; writers such as nlohmann's turn NaN and Inf into null.
    require(entry.is_number(), "--params file '{}': params[{}] is {}; expected a finite number",
            path, i, json_excerpt(entry));
    theta[i] = T(entry.get<double>());
    require(std::isfinite(theta[i]), "--params file '{}': params[{}] = {} is not finite in {}",
            path, i, entry.get<double>(), dtype_name<T>());
  }
  return theta;
}

template Vector<float> read_params_file<float>(const std::string&, const VectorField<float>&,
                                               const Vector<float>*);
template Vector<double> read_params_file<double>(const std::string&, const VectorField<double>&,
                                                 const Vector<double>*);

}  // namespace revode::cli
