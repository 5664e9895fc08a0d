/// The one list of built-in analytic fields (linear, Lotka–Volterra, Van der Pol, Kepler,
/// Lennard-Jones, white dwarf): factories by name plus each field's suggested initial state and
/// time span. Tests, the CLI and the benchmarks iterate over it (shared/STYLE.md E2, after
/// SUNDIALS' .def tables).
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "revode/core/vector_field.hpp"

namespace revode {

/// What a caller needs to set up a problem with a built-in field without knowing its type.
struct AnalyticFieldInfo {
  std::string_view name;         ///< registry name, e.g. "lotka-volterra"
  std::string_view description;  ///< one line: the equation and the source of the defaults
  std::vector<double> default_y0;
  std::vector<double> default_params;  ///< the field's own default_params()
  double t0 = 0.0;                     ///< suggested time span [t0, t1]
  double t1 = 1.0;
};

/// Registry names, in registry order.
std::span<const std::string_view> analytic_field_names();

/// @throws revode::Error for an unknown name, listing the known ones.
const AnalyticFieldInfo& analytic_field_info(std::string_view name);

/// A new instance of the named field ("linear" is the 2-dimensional one).
/// @throws revode::Error for an unknown name, listing the known ones.
template <class T>
std::unique_ptr<VectorField<T>> make_analytic_field(std::string_view name);

extern template std::unique_ptr<VectorField<float>> make_analytic_field<float>(std::string_view);
extern template std::unique_ptr<VectorField<double>> make_analytic_field<double>(std::string_view);

}  // namespace revode
