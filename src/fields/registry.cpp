// The registry of analytic fields: the only place that lists them.
#include "revode/fields/registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <numbers>
#include <type_traits>
#include <utility>

#include "revode/core/error.hpp"
#include "revode/fields/kepler.hpp"
#include "revode/fields/lennard_jones.hpp"
#include "revode/fields/linear.hpp"
#include "revode/fields/lotka_volterra.hpp"
#include "revode/fields/van_der_pol.hpp"
#include "revode/fields/white_dwarf.hpp"

namespace revode {
namespace {

template <class T>
using Factory = std::unique_ptr<VectorField<T>> (*)();

struct Entry {
  AnalyticFieldInfo info;
  Factory<float> make_float;
  Factory<double> make_double;
};

// The instance a registry name stands for: every field is default-constructed except the
// linear one, which needs a dimension.
template <template <class> class Field, class T>
Field<T> default_instance() {
  if constexpr (std::is_same_v<Field<T>, LinearField<T>>) {
    return LinearField<T>(2);
  } else {
    return Field<T>();
  }
}

template <template <class> class Field, class T>
std::unique_ptr<VectorField<T>> make_field() {
  return std::make_unique<Field<T>>(default_instance<Field, T>());
}

// Default parameters are read from the field itself so that they are written in one place.
template <template <class> class Field>
Entry make_entry(std::string_view name, std::string_view description, std::vector<double> y0,
                 double t1) {
  const Vector<double> theta = default_instance<Field, double>().default_params();
  return {{name, description, std::move(y0), {theta.data(), theta.data() + theta.size()}, 0.0, t1},
          &make_field<Field, float>,
          &make_field<Field, double>};
}

const std::vector<Entry>& entries() {
  // The only list of built-in analytic fields. Adding one: write fields/<name>.hpp and its .cpp,
  // add one line here; the registry-wide tests then cover it.
  static const std::vector<Entry> list = {
      make_entry<LinearField>("linear",
                              "y' = A y, A a 2 × 2 damped rotation (spiral); exact: expm(A t) y0",
                              {2.0, 0.0}, 10.0),
      make_entry<LotkaVolterraField>(
          "lotka-volterra",
          "x' = αx − βxy, y' = δxy − γy; (α, β, δ, γ) = (1.5, 1, 1, 3) as DifferentialEquations.jl",
          {1.0, 1.0}, 10.0),
      make_entry<VanDerPolField>("van-der-pol", "x' = y, y' = μ(1 − x²)y − x; μ = 1, a limit cycle",
                                 {2.0, 0.0}, 10.0),
      make_entry<KeplerField>("kepler",
                              "q' = p, p' = −GM q/|q|³; GM = 1, eccentricity-0.6 orbit of "
                              "Hairer–Lubich–Wanner §I.2.3, period 2π",
                              {0.4, 0.0, 0.0, 2.0}, 2.0 * std::numbers::pi),
      make_entry<LennardJonesField>(
          "lennard-jones",
          "3 atoms in 2-D, q' = p, p' = −∇Σ 4ε((σ/r)¹² − (σ/r)⁶); ε = σ = 1, a triangle of "
          "side 1.5 (equilibrium 2^(1/6)) about the origin that contracts and vibrates",
          {-0.75, -0.433, 0.75, -0.433, 0.0, 0.866, -0.1, -0.02, 0.1, -0.02, 0.0, 0.04}, 10.0),
      make_entry<WhiteDwarfField>(
          "white-dwarf",
          "Chandrasekhar: y1' = y2, y2' = −max(y1² − C, 0)^(3/2) − 2 y2/(t + 0.5); C = 0.001",
          {1.0, 0.0}, 5.0),
  };
  return list;
}

const Entry& find_entry(std::string_view name) {
  for (const Entry& entry : entries())
    if (entry.info.name == name) return entry;
  throw Error(fmt::format("unknown analytic field '{}' (known: {})", name,
                          fmt::join(analytic_field_names(), ", ")));
}

}  // namespace

std::span<const std::string_view> analytic_field_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> result;
    for (const Entry& entry : entries()) result.push_back(entry.info.name);
    return result;
  }();
  return names;
}

const AnalyticFieldInfo& analytic_field_info(std::string_view name) {
  return find_entry(name).info;
}

template <class T>
std::unique_ptr<VectorField<T>> make_analytic_field(std::string_view name) {
  const Entry& entry = find_entry(name);
  if constexpr (std::is_same_v<T, float>) {
    return entry.make_float();
  } else {
    return entry.make_double();
  }
}

template std::unique_ptr<VectorField<float>> make_analytic_field<float>(std::string_view);
template std::unique_ptr<VectorField<double>> make_analytic_field<double>(std::string_view);

}  // namespace revode
