/// NumPy ⇄ Eigen at the boundary of the Python module: every array argument is checked here
/// once (dtype, shape, finiteness) with a Python exception that says what was expected, and
/// copied into revode's column-major blocks, so any strides are accepted (STYLE.md E8).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <string_view>
#include <vector>

#include "revode/core/types.hpp"

namespace revode::python {

namespace py = pybind11;

/// The two scalar types a computation can run in.
enum class Dtype { float32, float64 };

std::string_view dtype_name(Dtype dtype);

template <class T>
constexpr Dtype dtype_of() {
  return sizeof(T) == 4 ? Dtype::float32 : Dtype::float64;
}

/// The dtype that `dtype=` names: "float32"/"float64", numpy.float32/float64 or a numpy.dtype.
/// None picks float32 when `like` is a float32 NumPy array and float64 otherwise.
/// @throws TypeError for anything else.
Dtype parse_dtype(py::handle dtype, py::handle like);

/// Calls `body.template operator()<T>()` with T = float for float32, double for float64.
template <class Body>
decltype(auto) dispatch_dtype(Dtype dtype, Body&& body) {
  if (dtype == Dtype::float32) return body.template operator()<float>();
  return body.template operator()<double>();
}

/// `obj` as a NumPy array of float32 or float64: arrays of other dtypes are refused (TypeError
/// naming `what` and the dtype), other objects (lists, scalars) are converted to float64.
py::array float_array(py::handle obj, std::string_view what);

/// "(2, 3)", as NumPy prints shapes.
std::string shape_string(const py::array& array);

/// A dim × batch block from `obj`, shaped (rows, cols) or, when cols is −1 (any) or 1, (rows,);
/// `was_1d` (if given) tells which. Values are cast to T; with check_finite, NaN and Inf (also
/// from float32 overflow) are refused. @throws TypeError / ValueError naming `what`.
template <class T>
Batch<T> to_batch(py::handle obj, std::string_view what, Index rows, Index cols, bool check_finite,
                  bool* was_1d = nullptr);

/// to_batch(obj, what, out.rows(), out.cols(), false) written into `out`: an array already of
/// T's dtype is copied straight in (one copy, no temporary; a Python field's every evaluation
/// returns a state-sized array), anything else goes through to_batch.
template <class T>
void to_batch_into(py::handle obj, std::string_view what, BatchRef<T> out);

/// A vector of `size` entries (any length when size < 0), finite in T.
template <class T>
Vector<T> to_vector(py::handle obj, std::string_view what, Index size, bool check_finite = true);

/// Copies out: (rows,) when as_1d (one column), else (rows, cols).
template <class T>
py::array_t<T> to_numpy(const ConstBatchRef<T>& y, bool as_1d);
/// Copies out a flat vector.
template <class T>
py::array_t<T> to_numpy(const ConstVectorRef<T>& v);
/// K blocks as (K, rows) when as_1d, else (K, rows, cols).
template <class T>
py::array_t<T> to_numpy(const std::vector<Batch<T>>& ys, Index rows, Index cols, bool as_1d);
py::array_t<double> to_numpy(const std::vector<double>& v);

}  // namespace revode::python
