// The registry of analytic fields: the only place that lists them.
#include "revode/fields/registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <numbers>

#include "revode/core/error.hpp"
#include "revode/fields/kepler.hpp"
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

template <template <class> class Field, class T>
std::unique_ptr<VectorField<T>> make_field() {
  return std::make_unique<Field<T>>();
}

template <class T>
std::unique_ptr<VectorField<T>> make_linear() {
  return std::make_unique<LinearField<T>>(2);
}

// Defaults are read from the fields themselves so they are written in one place only.
std::vector<double> params_of(const Vector<double>& theta) {
  return {theta.data(), theta.data() + theta.size()};
}

const std::vector<Entry>& entries() {
  // The only list of built-in analytic fields. Adding one: write fields/<name>.hpp and its .cpp,
  // add one entry here; the registry-wide tests then cover it.
  static const std::vector<Entry> list = {
      {{"linear", "y' = A y, A a 2 × 2 damped rotation (spiral), exact solution expm(A t) y0",
        {2.0, 0.0}, params_of(LinearField<double>(2).default_params()), 0.0, 10.0},
       &make_linear<float>, &make_linear<double>},
      {{"lotka-volterra",
        "x' = αx − βxy, y' = δxy − γy, (α, β, δ, γ) = (1.5, 1, 1, 3) as in DifferentialEquations.jl",
        {1.0, 1.0}, params_of(LotkaVolterraField<double>().default_params()), 0.0, 10.0},
       &make_field<LotkaVolterraField, float>, &make_field<LotkaVolterraField, double>},
      {{"van-der-pol", "x' = y, y' = μ(1 − x²)y − x, μ = 1: a limit cycle", {2.0, 0.0},
        params_of(VanDerPolField<double>().default_params()), 0.0, 10.0},
       &make_field<VanDerPolField, float>, &make_field<VanDerPolField, double>},
      {{"kepler",
        "q' = p, p' = −GM q/|q|³, GM = 1; y0 is the eccentricity-0.6 orbit of Hairer–Lubich–"
        "Wanner §I.2.3, period 2π",
        {0.4, 0.0, 0.0, 2.0}, params_of(KeplerField<double>().default_params()), 0.0,
        2.0 * std::numbers::pi},
       &make_field<KeplerField, float>, &make_field<KeplerField, double>},
      {{"white-dwarf",
        "Chandrasekhar: y1' = y2, y2' = −max(y1² − C, 0)^(3/2) − 2 y2/(t + 0.5), C = 0.001",
        {1.0, 0.0}, params_of(WhiteDwarfField<double>().default_params()), 0.0, 5.0},
       &make_field<WhiteDwarfField, float>, &make_field<WhiteDwarfField, double>},
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
