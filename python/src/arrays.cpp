#include "arrays.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

namespace revode::python {

using namespace pybind11::literals;

std::string_view dtype_name(Dtype dtype) {
  return dtype == Dtype::float32 ? "float32" : "float64";
}

namespace {

bool is_float(const py::dtype& d, py::ssize_t size) { return d.kind() == 'f' && d.itemsize() == size; }

/// x in T. float64 beyond float32's range becomes ±inf (what the hardware conversion gives; a
/// plain cast would be undefined behaviour), which the finiteness checks then report.
template <class T>
T narrow(double x) {
  if constexpr (std::is_same_v<T, float>) {
    if (std::abs(x) > double(std::numeric_limits<float>::max()) && std::isfinite(x))
      return x > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  }
  return T(x);
}

std::string type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

}  // namespace

Dtype parse_dtype(py::handle dtype, py::handle like) {
  if (dtype.is_none()) {
    if (py::isinstance<py::array>(like) &&
        is_float(py::reinterpret_borrow<py::array>(like).dtype(), 4))
      return Dtype::float32;
    return Dtype::float64;
  }
  py::dtype d;
  try {
    d = py::dtype::from_args(py::reinterpret_borrow<py::object>(dtype));
  } catch (const py::error_already_set&) {
    throw py::type_error(fmt::format("dtype={}: expected 'float32' or 'float64' (or None: the dtype "
                                     "of y0)",
                                     std::string(py::repr(dtype))));
  }
  if (is_float(d, 4)) return Dtype::float32;
  if (is_float(d, 8)) return Dtype::float64;
  throw py::type_error(fmt::format("dtype={}: expected 'float32' or 'float64'",
                                   std::string(py::str(d))));
}

py::array float_array(py::handle obj, std::string_view what) {
  if (py::isinstance<py::array>(obj)) {
    auto array = py::reinterpret_borrow<py::array>(obj);
    if (is_float(array.dtype(), 4) || is_float(array.dtype(), 8)) return array;
    throw py::type_error(fmt::format(
        "{} has dtype {}; expected float64 or float32 (convert with .astype(numpy.float64))", what,
        std::string(py::str(array.dtype()))));
  }
  if (obj.is_none() || py::isinstance<py::str>(obj) || py::isinstance<py::bytes>(obj))
    throw py::type_error(fmt::format("{} is a {}; expected an array of float64 or float32", what,
                                     type_name(obj)));
  try {
    return py::module_::import("numpy").attr("asarray")(obj, "dtype"_a = "float64");
  } catch (const py::error_already_set& e) {
    throw py::type_error(fmt::format("{} (a {}) does not convert to an array of numbers ({}); "
                                     "expected an array of float64 or float32",
                                     what, type_name(obj), e.what()));
  }
}

std::string shape_string(const py::array& array) {
  std::string out = "(";
  for (py::ssize_t i = 0; i < array.ndim(); ++i)
    out += fmt::format("{}{}", i > 0 ? ", " : "", array.shape(i));
  return out + (array.ndim() == 1 ? ",)" : ")");
}

/// The end of to_batch: the 1-D flag and, when asked, the finiteness check naming the entry.
template <class T>
Batch<T> finish_batch(Batch<T>& out, const py::array& array, std::string_view what,
                      bool check_finite, bool* was_1d) {
  if (was_1d != nullptr) *was_1d = array.ndim() == 1;
  if (check_finite)
    for (Index j = 0; j < out.cols(); ++j)
      for (Index i = 0; i < out.rows(); ++i)
        if (!std::isfinite(out(i, j)))
          throw py::value_error(fmt::format(
              "{} entry {} is {} in {}; expected finite values", what,
              array.ndim() == 1 ? fmt::format("[{}]", i) : fmt::format("[{}, {}]", i, j),
              double(out(i, j)), dtype_name(dtype_of<T>())));
  return std::move(out);
}

template <class T>
Batch<T> to_batch(py::handle obj, std::string_view what, Index rows, Index cols, bool check_finite,
                  bool* was_1d) {
  const py::array array = float_array(obj, what);
  const bool one_d_allowed = cols < 0 || cols == 1;
  const bool fits =
      (array.ndim() == 1 && one_d_allowed && array.shape(0) == rows) ||
      (array.ndim() == 2 && array.shape(0) == rows &&
       (cols < 0 ? array.shape(1) >= 1 : array.shape(1) == cols));
  if (!fits) {
    const std::string expected =
        cols < 0    ? fmt::format("({},) or ({}, batch) with batch >= 1", rows, rows)
        : cols == 1 ? fmt::format("({},) or ({}, 1)", rows, rows)
                    : fmt::format("({}, {})", rows, cols);
    throw py::value_error(
        fmt::format("{} has shape {}; expected {}", what, shape_string(array), expected));
  }
  const Index columns = array.ndim() == 1 ? 1 : Index(array.shape(1));
  Batch<T> out(rows, columns);
  const auto item = py::ssize_t(sizeof(T));
  const auto plain = [&](py::ssize_t stride) { return stride >= 0 && stride % item == 0; };
  if (is_float(array.dtype(), item) && plain(array.strides(0)) &&
      (array.ndim() == 1 || plain(array.strides(1)))) {
    // Already T: one strided copy, no conversion (the hot path of Python fields, whose every
    // evaluation returns a state-sized array: revode.torch's conv fields, docs/torch.md).
    const Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic> stride(
        array.ndim() == 1 ? 0 : Index(array.strides(1) / item), Index(array.strides(0) / item));
    out = Eigen::Map<const Batch<T>, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>(
        static_cast<const T*>(array.data()), rows, columns, stride);
    return finish_batch<T>(out, array, what, check_finite, was_1d);
  }
  // Read as float64 (exact for float32 input), then round to T here rather than in NumPy, which
  // would warn on float32 overflow before our own check reports it.
  const auto typed = py::array_t<double, py::array::forcecast>::ensure(array);
  if (array.ndim() == 1) {
    const auto view = typed.template unchecked<1>();
    for (Index i = 0; i < rows; ++i) out(i, 0) = narrow<T>(view(i));
  } else {
    const auto view = typed.template unchecked<2>();
    for (Index j = 0; j < columns; ++j)
      for (Index i = 0; i < rows; ++i) out(i, j) = narrow<T>(view(i, j));
  }
  return finish_batch<T>(out, array, what, check_finite, was_1d);
}

template <class T>
void to_batch_into(py::handle obj, std::string_view what, BatchRef<T> out) {
  const auto item = py::ssize_t(sizeof(T));
  if (py::isinstance<py::array>(obj)) {
    const auto array = py::reinterpret_borrow<py::array>(obj);
    const bool fits = (array.ndim() == 1 && out.cols() == 1 && array.shape(0) == out.rows()) ||
                      (array.ndim() == 2 && array.shape(0) == out.rows() &&
                       array.shape(1) == out.cols());
    const auto plain = [&](py::ssize_t stride) { return stride >= 0 && stride % item == 0; };
    if (fits && is_float(array.dtype(), item) && plain(array.strides(0)) &&
        (array.ndim() == 1 || plain(array.strides(1)))) {
      const Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic> stride(
          array.ndim() == 1 ? 0 : Index(array.strides(1) / item), Index(array.strides(0) / item));
      out = Eigen::Map<const Batch<T>, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>(
          static_cast<const T*>(array.data()), out.rows(), out.cols(), stride);
      return;
    }
  }
  out = to_batch<T>(obj, what, out.rows(), out.cols(), /*check_finite=*/false);
}

template <class T>
Vector<T> to_vector(py::handle obj, std::string_view what, Index size, bool check_finite) {
  const py::array array = float_array(obj, what);
  if (array.ndim() != 1 || (size >= 0 && array.shape(0) != size))
    throw py::value_error(fmt::format("{} has shape {}; expected {}", what, shape_string(array),
                                      size >= 0 ? fmt::format("({},)", size) : "a 1-D array"));
  const auto typed = py::array_t<double, py::array::forcecast>::ensure(array);
  const auto view = typed.template unchecked<1>();
  Vector<T> out(array.shape(0));
  for (Index i = 0; i < out.size(); ++i) {
    out[i] = narrow<T>(view(i));
    if (check_finite && !std::isfinite(out[i]))
      throw py::value_error(fmt::format("{} entry [{}] is {} in {}; expected finite values", what,
                                        i, double(out[i]), dtype_name(dtype_of<T>())));
  }
  return out;
}

template <class T>
py::array_t<T> to_numpy(const ConstBatchRef<T>& y, bool as_1d) {
  if (as_1d) {
    py::array_t<T> out(y.rows());
    auto view = out.template mutable_unchecked<1>();
    for (Index i = 0; i < y.rows(); ++i) view(i) = y(i, 0);
    return out;
  }
  py::array_t<T> out({y.rows(), y.cols()});
  if (y.cols() == 1 && y.innerStride() == 1) {  // one column: both layouts are the same memory
    std::memcpy(out.mutable_data(), y.data(), sizeof(T) * std::size_t(y.rows()));
    return out;
  }
  using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<RowMajor>(out.mutable_data(), y.rows(), y.cols()) = y;  // one (transposing) copy
  return out;
}

template <class T>
py::array_t<T> to_numpy(const ConstVectorRef<T>& v) {
  py::array_t<T> out(v.size());
  std::copy(v.data(), v.data() + v.size(), out.mutable_data());
  return out;
}

template <class T>
py::array_t<T> to_numpy(const std::vector<Batch<T>>& ys, Index rows, Index cols, bool as_1d) {
  const auto count = py::ssize_t(ys.size());
  if (as_1d) {
    py::array_t<T> out({count, py::ssize_t(rows)});
    auto view = out.template mutable_unchecked<2>();
    for (py::ssize_t k = 0; k < count; ++k)
      for (Index i = 0; i < rows; ++i) view(k, i) = ys[std::size_t(k)](i, 0);
    return out;
  }
  py::array_t<T> out({count, py::ssize_t(rows), py::ssize_t(cols)});
  auto view = out.template mutable_unchecked<3>();
  for (py::ssize_t k = 0; k < count; ++k)
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) view(k, i, j) = ys[std::size_t(k)](i, j);
  return out;
}

py::array_t<double> to_numpy(const std::vector<double>& v) {
  py::array_t<double> out(py::ssize_t(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

#define REVODE_PYTHON_ARRAYS(T)                                                           \
  template Batch<T> to_batch<T>(py::handle, std::string_view, Index, Index, bool, bool*); \
  template void to_batch_into<T>(py::handle, std::string_view, BatchRef<T>);              \
  template Vector<T> to_vector<T>(py::handle, std::string_view, Index, bool);             \
  template py::array_t<T> to_numpy<T>(const ConstBatchRef<T>&, bool);                     \
  template py::array_t<T> to_numpy<T>(const ConstVectorRef<T>&);                          \
  template py::array_t<T> to_numpy<T>(const std::vector<Batch<T>>&, Index, Index, bool);
REVODE_PYTHON_ARRAYS(float)
REVODE_PYTHON_ARRAYS(double)
#undef REVODE_PYTHON_ARRAYS

}  // namespace revode::python
