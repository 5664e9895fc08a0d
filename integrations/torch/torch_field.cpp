// TorchField: the only translation unit of revode that includes torch headers (they cost about
// a minute of compile time per TU, so everything torch-facing lives here).
#include "revode/torch/torch_field.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/script.h>

#include <cstring>
#include <filesystem>
#include <type_traits>
#include <unordered_set>
#include <utility>

#include "revode/core/error.hpp"

namespace revode {
namespace {

template <class T>
constexpr c10::ScalarType scalar_type() {
  return std::is_same_v<T, float> ? torch::kFloat32 : torch::kFloat64;
}

template <class T>
torch::TensorOptions tensor_options() {
  return torch::TensorOptions().dtype(scalar_type<T>()).device(torch::kCPU);
}

/// The dim × batch column-major block as a batch × dim row-major tensor over the same memory:
/// element (i, j) at data[i + j · outerStride] is [j][i] with strides {outerStride, 1}.
/// The tensor is only read when the block is const (from_blob needs a non-const pointer).
template <class T, class Block>
torch::Tensor view_of(const Block& block) {
  return torch::from_blob(const_cast<T*>(block.data()), {block.cols(), block.rows()},
                          {block.outerStride(), 1}, tensor_options<T>());
}

/// torch's own exceptions, without the C++ backtrace c10::Error appends.
std::string torch_message(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e))
    return c10_error->what_without_backtrace();
  return e.what();
}

std::string shape_text(torch::IntArrayRef sizes) {
  return fmt::format("[{}]", fmt::join(sizes, ", "));
}

}  // namespace

template <class T>
struct TorchField<T>::Impl {
  std::string path;
  TorchFieldOptions options;
  Index dim = 0;
  torch::jit::Module module;
  /// The module as loaded, before its parameters were made views into `flat`: clone() copies
  /// this one (Module::clone of the shared-buffer parameters does not give them all back).
  std::shared_ptr<const torch::jit::Module> pristine;
  /// The module's parameters (each once), all views into `flat`: copying θ into `flat` is
  /// copying it into the module.
  std::vector<torch::Tensor> params;
  std::vector<TorchParameter> layout;
  torch::Tensor flat;
  Index param_count = 0;
  Vector<T> initial;

  std::string where() const { return fmt::format("torchscript module '{}'", path); }

  /// Makes the module's parameters views into one flat buffer (after `module` changed).
  void share_parameters();
  void load_theta(const ConstVectorRef<T>& theta) const;
  void check_shapes(const char* call, Index y_rows, Index y_cols, Index theta_size) const;
  /// forward(t, y) with its errors named; the result checked for type, dtype and shape.
  torch::Tensor forward(T t, const torch::Tensor& y, Index batch) const;
  template <class Block>
  void check_finite(const Block& values, const char* what, T t) const;
};

template <class T>
void TorchField<T>::Impl::share_parameters() {
  params.clear();
  layout.clear();
  std::unordered_set<const void*> seen;  // a parameter shared by two submodules is one entry
  Index offset = 0;
  for (const auto& named : module.named_parameters(/*recurse=*/true)) {
    if (!seen.insert(named.value.unsafeGetTensorImpl()).second) continue;
    const torch::Tensor& p = named.value;
    require(p.scalar_type() == scalar_type<T>() && p.device().is_cpu(),
            "{}: parameter '{}' is {} on {}; expected a CPU tensor of {}", where(), named.name,
            c10::toString(p.scalar_type()), p.device().str(), c10::toString(scalar_type<T>()));
    layout.push_back({named.name, std::vector<Index>(p.sizes().begin(), p.sizes().end()), offset});
    params.push_back(p);
    offset += p.numel();
  }
  param_count = offset;
  flat = torch::empty({param_count}, tensor_options<T>());
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params.size(); ++i) {
    torch::Tensor segment =
        flat.narrow(0, layout[i].offset, params[i].numel()).view(params[i].sizes());
    segment.copy_(params[i]);
    params[i].set_data(segment);
    // Every parameter is part of θ and gets a gradient, frozen or not.
    params[i].requires_grad_(true);
  }
}

template <class T>
void TorchField<T>::Impl::load_theta(const ConstVectorRef<T>& theta) const {
  // One memcpy: 0.64 µs for the 4,354 float64 parameters of 2→64→64→2 against 13.6 µs for an
  // eval at batch 1 (CPU times, bench/torch_field_bench.cpp). Comparing θ with what the module
  // holds costs as much as copying it, and comparing pointers is not enough: optimizers update
  // θ in place.
  if (param_count > 0)
    std::memcpy(flat.data_ptr<T>(), theta.data(), std::size_t(param_count) * sizeof(T));
}

template <class T>
void TorchField<T>::Impl::check_shapes(const char* call, Index y_rows, Index y_cols,
                                       Index theta_size) const {
  require(y_rows == dim && y_cols >= 1, "{}: {} got y of {} × {}; expected {} × batch, batch ≥ 1",
          where(), call, y_rows, y_cols, dim);
  require(theta_size == param_count, "{}: {} got θ with {} entries; expected {}", where(), call,
          theta_size, param_count);
}

template <class T>
torch::Tensor TorchField<T>::Impl::forward(T t, const torch::Tensor& y, Index batch) const {
  c10::IValue result;
  try {
    std::vector<c10::IValue> inputs{torch::scalar_tensor(t, tensor_options<T>()), y};
    // forward is const in effect; torch::jit::Module's call operator is not marked so.
    result = const_cast<torch::jit::Module&>(module).forward(std::move(inputs));
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: forward(t, y) failed at t = {} with y of shape [{}, {}]: {}",
                            where(), t, batch, dim, torch_message(e)));
  }
  // y is revode's state, viewed without a copy: a module that writes into it would corrupt the
  // solve (in vjp autograd refuses in-place use of the leaf itself).
  require(y._version() == 0,
          "{}: forward(t, y) modified y in place; expected it to leave its input unchanged",
          where());
  require(result.isTensor(), "{}: forward(t, y) returned {}; expected a tensor", where(),
          result.tagKind());
  torch::Tensor out = result.toTensor();
  require(out.scalar_type() == scalar_type<T>(),
          "{}: forward(t, y) returned dtype {}; expected {} (the dtype of y)", where(),
          c10::toString(out.scalar_type()), c10::toString(scalar_type<T>()));
  require(out.device().is_cpu(), "{}: forward(t, y) returned a tensor on {}; expected CPU", where(),
          out.device().str());
  require(out.dim() == 2 && out.size(0) == batch && out.size(1) == dim,
          "{}: forward(t, y) returned shape {}; expected [{}, {}] (batch × state dim, like y)",
          where(), shape_text(out.sizes()), batch, dim);
  return out;
}

template <class T>
template <class Block>
void TorchField<T>::Impl::check_finite(const Block& values, const char* what, T t) const {
  if (!options.check_finite || values.allFinite()) return;
  for (Index j = 0; j < values.cols(); ++j)
    for (Index i = 0; i < values.rows(); ++i)
      require(std::isfinite(values(i, j)),
              "{}: {} at t = {} is {} at [{}, {}] (sample, component); expected finite values",
              where(), what, t, values(i, j), j, i);
}

template <class T>
TorchField<T>::TorchField(const std::string& path, TorchFieldOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  m.options = options;
  require(std::filesystem::is_regular_file(path), "{}: no such file", m.where());
  try {
    m.module = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: not a TorchScript module (torch::jit::load: {})", m.where(),
                            torch_message(e)));
  }
  const auto forward = m.module.find_method("forward");
  require(forward.has_value(), "{}: has no forward method; expected forward(t, y)", m.where());
  // The schema's first argument is self.
  const auto& arguments = forward->function().getSchema().arguments();
  require(arguments.size() == 3, "{}: forward takes {} argument(s); expected forward(t, y)",
          m.where(), arguments.size() - 1);
  m.module.eval();
  m.module.to(scalar_type<T>());

  const bool has_attribute = m.module.hasattr("state_dim") && m.module.attr("state_dim").isInt();
  const Index attribute = has_attribute ? Index(m.module.attr("state_dim").toInt()) : 0;
  require(options.state_dim > 0 || has_attribute,
          "{}: the state dimension is unknown: give it (TorchFieldOptions::state_dim, the CLI's "
          "--y0) or set an int attribute state_dim on the module",
          m.where());
  require(options.state_dim <= 0 || !has_attribute || attribute == options.state_dim,
          "{}: state dimension {} given, but the module's state_dim attribute is {}", m.where(),
          options.state_dim, attribute);
  m.dim = options.state_dim > 0 ? options.state_dim : attribute;
  require(m.dim >= 1, "{}: state_dim = {}; expected ≥ 1", m.where(), m.dim);

  m.pristine = std::make_shared<const torch::jit::Module>(m.module.clone());
  m.share_parameters();
  m.initial = Eigen::Map<const Vector<T>>(m.flat.template data_ptr<T>(), m.param_count);
}

template <class T>
TorchField<T>::TorchField(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
template <class T>
TorchField<T>::~TorchField() = default;
template <class T>
TorchField<T>::TorchField(TorchField&&) noexcept = default;
template <class T>
TorchField<T>& TorchField<T>::operator=(TorchField&&) noexcept = default;

template <class T>
Index TorchField<T>::state_dim() const {
  return impl_->dim;
}
template <class T>
Index TorchField<T>::param_count() const {
  return impl_->param_count;
}
template <class T>
std::string TorchField<T>::name() const {
  return "torchscript:" + impl_->path;
}
template <class T>
Vector<T> TorchField<T>::initial_params() const {
  return impl_->initial;
}
template <class T>
const std::vector<TorchParameter>& TorchField<T>::parameters() const {
  return impl_->layout;
}
template <class T>
const std::string& TorchField<T>::path() const {
  return impl_->path;
}

template <class T>
void TorchField<T>::eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                         BatchRef<T> dy) const {
  const Impl& m = *impl_;
  m.check_shapes("eval", y.rows(), y.cols(), theta.size());
  require(dy.rows() == y.rows() && dy.cols() == y.cols(),
          "{}: eval got dy of {} × {}; expected {} × {}", m.where(), dy.rows(), dy.cols(), y.rows(),
          y.cols());
  m.load_theta(theta);
  torch::NoGradGuard no_grad;
  const torch::Tensor out = m.forward(t, view_of<T>(y), y.cols());
  view_of<T>(dy).copy_(out);
  m.check_finite(dy, "forward(t, y)", t);
}

template <class T>
void TorchField<T>::vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                        const ConstBatchRef<T>& a, BatchRef<T> y_bar,
                        VectorRef<T> theta_bar) const {
  const Impl& m = *impl_;
  m.check_shapes("vjp", y.rows(), y.cols(), theta.size());
  require(a.rows() == y.rows() && a.cols() == y.cols() && y_bar.rows() == y.rows() &&
              y_bar.cols() == y.cols() && theta_bar.size() == m.param_count,
          "{}: vjp got a {} × {}, y_bar {} × {}, theta_bar {}; expected {} × {}, {} × {}, {}",
          m.where(), a.rows(), a.cols(), y_bar.rows(), y_bar.cols(), theta_bar.size(), y.rows(),
          y.cols(), y.rows(), y.cols(), m.param_count);
  m.load_theta(theta);
  torch::AutoGradMode grad_mode(true);
  // A graph of this one call: built by the forward below, freed by grad (retain_graph false).
  const torch::Tensor y_leaf = view_of<T>(y).requires_grad_(true);
  const torch::Tensor out = m.forward(t, y_leaf, y.cols());
  std::vector<torch::Tensor> gradients;
  if (out.requires_grad()) {
    std::vector<torch::Tensor> inputs{y_leaf};
    inputs.insert(inputs.end(), m.params.begin(), m.params.end());
    try {
      gradients = torch::autograd::grad({out}, inputs, {view_of<T>(a)}, /*retain_graph=*/false,
                                        /*create_graph=*/false, /*allow_unused=*/true);
    } catch (const std::exception& e) {
      throw Error(fmt::format("{}: backward of forward(t, y) failed at t = {}: {}", m.where(), t,
                              torch_message(e)));
    }
  }
  // θ first: y_bar may alias y, which the graph no longer needs once grad returned.
  for (std::size_t i = 0; i < m.params.size(); ++i) {
    if (gradients.empty() || !gradients[i + 1].defined()) continue;  // not used by forward
    const torch::Tensor g = gradients[i + 1].contiguous();
    const Eigen::Map<const Vector<T>> g_flat(g.template data_ptr<T>(), g.numel());
    m.check_finite(g_flat, "the parameter gradient", t);
    theta_bar.segment(m.layout[i].offset, g.numel()) += g_flat;
  }
  if (gradients.empty() || !gradients[0].defined()) {
    y_bar.setZero();  // forward does not depend on y
  } else {
    view_of<T>(y_bar).copy_(gradients[0]);
    m.check_finite(y_bar, "the state gradient aᵀ∂f/∂y", t);
  }
}

template <class T>
std::unique_ptr<VectorField<T>> TorchField<T>::clone() const {
  auto copy = std::make_unique<Impl>();
  copy->path = impl_->path;
  copy->options = impl_->options;
  copy->dim = impl_->dim;
  copy->pristine = impl_->pristine;
  copy->module = impl_->pristine->clone();  // deep: its own parameter tensors
  copy->share_parameters();
  copy->initial = impl_->initial;
  return std::unique_ptr<VectorField<T>>(new TorchField<T>(std::move(copy)));
}

template class TorchField<float>;
template class TorchField<double>;

}  // namespace revode
