/// What a Python `revode.Field` holds: the field in both precisions, its flat parameter vector θ
/// (float64, owned here; Python sees a writable view), and what a problem needs to default.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "revode/core/vector_field.hpp"
#include "revode/nn/mlp.hpp"

namespace revode::python {

namespace py = pybind11;

struct FieldHandle {
  virtual ~FieldHandle() = default;

  std::unique_ptr<VectorField<double>> f64;
  std::unique_ptr<VectorField<float>> f32;
  /// θ in float64. Its size never changes, so NumPy views of it stay valid for the handle's life.
  Vector<double> params;
  std::optional<std::vector<double>> default_y0;
  std::optional<std::pair<double, double>> t_span;  ///< a suggested [t0, t1]
  std::string description;
  /// A field's scratch is per instance: one computation at a time, taken without the GIL.
  /// Recursive, so that a Python callback (a loss, a PythonField) may use the same field again
  /// from its own thread instead of deadlocking.
  std::shared_ptr<std::recursive_mutex> busy = std::make_shared<std::recursive_mutex>();

  template <class T>
  const VectorField<T>& get() const {
    if constexpr (std::is_same_v<T, float>) {
      return *f32;
    } else {
      return *f64;
    }
  }
  /// θ in T (float32 θ is float64 θ rounded, as the CLI's).
  template <class T>
  Vector<T> params_as() const {
    return params.template cast<T>();
  }
};

struct MlpHandle final : FieldHandle {
  MlpSpec spec;
  std::string init;
  std::uint64_t seed = 0;
};

/// `field` itself: pybind11 passes None as an empty shared_ptr, which must not be dereferenced.
/// @throws TypeError.
inline const FieldHandle& require_field(const std::shared_ptr<FieldHandle>& field) {
  if (!field)
    throw py::type_error(
        "field is None; expected a revode.Field (revode.MLP, revode.field(name) or "
        "revode.PythonField)");
  return *field;
}

/// An MLP field with θ drawn from `seed` (what revode.MLP builds); `init` is "pytorch" or
/// "glorot" (ValueError otherwise).
std::shared_ptr<MlpHandle> make_mlp_handle(const MlpSpec& spec, const std::string& init,
                                           std::uint64_t seed);
/// The Python name of an initialiser: "pytorch" or "glorot".
std::string init_name(Init init);

/// Runs `body` with the GIL released and the field's lock held. Arguments must already be C++
/// values; Python-defined fields and losses take the GIL back inside their callbacks.
template <class Body>
decltype(auto) without_gil(const FieldHandle& field, Body&& body) {
  py::gil_scoped_release release;
  std::lock_guard lock(*field.busy);
  return body();
}

}  // namespace revode::python
