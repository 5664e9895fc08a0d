// TorchField against the module it wraps (called directly through torch::jit), its VJP against
// finite differences, a TorchScript MLP against revode's native Mlp with the same weights
// (eval, VJP, and whole gradients through a reversible solver), and the errors for bad modules.
// The modules are written by make_test_modules.py (a ctest fixture) into REVODE_TORCH_MODULES.
#include "revode/torch/torch_field.hpp"

#include <gtest/gtest.h>
#include <torch/script.h>

#include <cmath>
#include <random>
#include <string>

#include "revode/core/check_vjp.hpp"
#include "revode/core/error.hpp"
#include "revode/gradients/direct_backprop.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/gradients/reversible_backprop.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/registry.hpp"

namespace revode {
namespace {

std::string module_path(const std::string& name) {
  return std::string(REVODE_TORCH_MODULES) + "/" + name + ".pt";
}

template <class T>
Batch<T> random_states(Index dim, Index batch, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  Batch<T> y(dim, batch);
  for (Index j = 0; j < batch; ++j)
    for (Index i = 0; i < dim; ++i) y(i, j) = T(uniform(rng));
  return y;
}

/// What the module itself returns for a batch of states (dim × batch), as dim × batch.
Batch<double> module_forward(const std::string& name, double t, const Batch<double>& y) {
  torch::jit::Module module = torch::jit::load(module_path(name));
  module.eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor y_tensor =
      torch::from_blob(const_cast<double*>(y.data()), {y.cols(), y.rows()}, torch::kFloat64)
          .clone();
  const torch::Tensor out =
      module.forward({torch::scalar_tensor(t, torch::kFloat64), y_tensor}).toTensor().contiguous();
  return Eigen::Map<const Batch<double>>(out.data_ptr<double>(), y.rows(), y.cols());
}

/// θ of revode's Mlp from θ of the TorchScript Mlp (make_test_modules.py): torch stores each
/// nn.Linear weight row-major (outputs × inputs), revode column-major; biases are the same.
template <class T>
Vector<T> native_theta(const TorchField<T>& field, const Mlp<T>& mlp,
                       const Vector<T>& torch_theta) {
  Vector<T> theta(mlp.param_count());
  const auto& params = field.parameters();
  EXPECT_EQ(params.size(), 2 * mlp.layers().size());
  for (std::size_t l = 0; l < mlp.layers().size(); ++l) {
    const LayerShape& s = mlp.layers()[l];
    const TorchParameter& weight = params[2 * l];
    const TorchParameter& bias = params[2 * l + 1];
    EXPECT_EQ(weight.shape, (std::vector<Index>{s.outputs, s.inputs})) << weight.name;
    using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<Batch<T>>(theta.data() + s.weight_offset, s.outputs, s.inputs) =
        Eigen::Map<const RowMajor>(torch_theta.data() + weight.offset, s.outputs, s.inputs);
    theta.segment(s.bias_offset, s.outputs) = torch_theta.segment(bias.offset, s.outputs);
  }
  return theta;
}

double relative_difference(const auto& a, const auto& b) {
  return double((a - b).norm() / std::max(b.norm(), decltype(b.norm())(1e-300)));
}

TEST(TorchField, LoadsTheModulesLayout) {
  const TorchField<double> f(module_path("time_field"));
  EXPECT_EQ(f.state_dim(), 3);
  EXPECT_EQ(f.name(), "torchscript:" + module_path("time_field"));
  // The module's own parameters first, then its submodules' (as in Python); the buffer is not
  // a parameter: scale (3), unused (2), net.0 (8 × 3 + 8), net.2 (3 × 8 + 3).
  ASSERT_EQ(f.parameters().size(), 6u);
  EXPECT_EQ(f.parameters()[0].name, "scale");
  EXPECT_EQ(f.parameters()[1].name, "unused");
  EXPECT_EQ(f.parameters()[1].offset, 3);
  EXPECT_EQ(f.parameters()[2].name, "net.0.weight");
  EXPECT_EQ(f.parameters()[2].shape, (std::vector<Index>{8, 3}));
  EXPECT_EQ(f.parameters()[5].offset, 3 + 2 + 32 + 24);
  EXPECT_EQ(f.param_count(), 3 + 2 + 32 + 27);
  const Vector<double> theta = f.initial_params();
  EXPECT_EQ(theta.head(3), Vector<double>::Map(std::vector{0.5, -1.0, 2.0}.data(), 3));
}

TEST(TorchField, EvalEqualsTheModuleOnAStridedBlock) {
  const TorchField<double> f(module_path("time_field"));
  // A block of a taller matrix: the view must use the outer stride, not assume rows == dim.
  Batch<double> storage = random_states<double>(5, 7, 1);
  const auto y = storage.topRows(3);
  Batch<double> dy_storage = Batch<double>::Constant(4, 7, -99.0);
  f.eval(0.7, y, f.initial_params(), dy_storage.topRows(3));
  const Batch<double> expected = module_forward("time_field", 0.7, y);
  EXPECT_LE(relative_difference(dy_storage.topRows(3), expected), 1e-15);
  EXPECT_TRUE((dy_storage.row(3).array() == -99.0).all()) << "eval wrote outside dy";
}

TEST(TorchField, UsesTheThetaItIsGiven) {
  const TorchField<double> f(module_path("no_state_dim"), {.state_dim = 4});
  const Batch<double> y = random_states<double>(4, 2, 2);
  Batch<double> dy(4, 2);
  Vector<double> theta(4);
  theta << 2.0, -1.0, 0.5, 3.0;
  f.eval(0.0, y, theta, dy);
  EXPECT_EQ(dy, (-(theta.asDiagonal() * y)).eval());
  f.eval(0.0, y, f.initial_params(), dy);
  EXPECT_EQ(dy.col(0), (-f.initial_params().cwiseProduct(y.col(0))).eval());
}

TEST(TorchField, VjpMatchesFiniteDifferences) {
  const TorchField<double> f(module_path("time_field"));
  const Batch<double> y = random_states<double>(3, 4, 3);
  Vector<double> theta = f.initial_params();
  theta += 0.1 * random_states<double>(theta.size(), 1, 4).col(0);
  const VjpCheckReport report = check_vjp(f, 0.4, y, theta);
  EXPECT_TRUE(report.within(1e-8)) << report.message;

  const TorchField<float> f32(module_path("time_field"));
  const VjpCheckReport report32 = check_vjp(f32, 0.4f, y.cast<float>(), theta.cast<float>().eval());
  EXPECT_TRUE(report32.within(5e-2)) << report32.message;
}

TEST(TorchField, VjpLeavesUnusedParametersAndMayOverwriteY) {
  const TorchField<double> f(module_path("time_field"));
  Batch<double> y = random_states<double>(3, 2, 5);
  const Batch<double> a = random_states<double>(3, 2, 6);
  const Vector<double> theta = f.initial_params();
  Vector<double> theta_bar = Vector<double>::Constant(f.param_count(), 1.5);
  Batch<double> y_bar(3, 2);
  f.vjp(0.3, y, theta, a, y_bar, theta_bar);
  EXPECT_EQ(theta_bar.segment(3, 2), Vector<double>::Constant(2, 1.5)) << "'unused' changed";
  EXPECT_NE(theta_bar.head(3), Vector<double>::Constant(3, 1.5)) << "'scale' got no gradient";
  // y_bar aliasing y (the Mlp contract allows it) gives the same numbers.
  Vector<double> theta_bar_again = Vector<double>::Constant(f.param_count(), 1.5);
  f.vjp(0.3, y, theta, a, y, theta_bar_again);
  // Not bitwise: torch's profiling executor may run an optimised graph from the second call on.
  EXPECT_LE(relative_difference(y, y_bar), 1e-14);
  EXPECT_LE(relative_difference(theta_bar_again, theta_bar), 1e-14);
}

TEST(TorchField, CloneIsIndependentAndEqual) {
  const TorchField<double> f(module_path("mlp"));
  const auto copy = f.clone();
  const Batch<double> y = random_states<double>(2, 3, 7);
  Batch<double> dy(2, 3), dy_copy(2, 3);
  Vector<double> other = 0.5 * f.initial_params();
  copy->eval(0.0, y, other, dy_copy);  // loads other θ into the copy only
  f.eval(0.0, y, f.initial_params(), dy);
  copy->eval(0.0, y, f.initial_params(), dy_copy);
  EXPECT_EQ(dy, dy_copy);
  EXPECT_EQ(copy->name(), f.name());
  EXPECT_EQ(copy->param_count(), f.param_count());
}

/// The same network written both ways: TorchScript (make_test_modules.py's Mlp) and revode's.
template <class T>
struct BothMlps {
  TorchField<T> torch_field{module_path("mlp")};
  Mlp<T> native{parse_mlp_spec("2,16,16,2")};
  Vector<T> torch_theta = torch_field.initial_params();
  Vector<T> native_theta_ = native_theta(torch_field, native, torch_theta);
};

TEST(TorchField, MlpEvalAndVjpEqualTheNativeMlp) {
  BothMlps<double> m;
  const Batch<double> y = random_states<double>(2, 9, 8);
  const Batch<double> a = random_states<double>(2, 9, 9);
  Batch<double> dy_torch(2, 9), dy_native(2, 9);
  m.torch_field.eval(0.0, y, m.torch_theta, dy_torch);
  m.native.eval(0.0, y, m.native_theta_, dy_native);
  EXPECT_LE(relative_difference(dy_torch, dy_native), 1e-14);

  Batch<double> y_bar_torch(2, 9), y_bar_native(2, 9);
  Vector<double> theta_bar_torch = Vector<double>::Zero(m.torch_field.param_count());
  Vector<double> theta_bar_native = Vector<double>::Zero(m.native.param_count());
  m.torch_field.vjp(0.0, y, m.torch_theta, a, y_bar_torch, theta_bar_torch);
  m.native.vjp(0.0, y, m.native_theta_, a, y_bar_native, theta_bar_native);
  EXPECT_LE(relative_difference(y_bar_torch, y_bar_native), 1e-14);
  EXPECT_LE(
      relative_difference(native_theta(m.torch_field, m.native, theta_bar_torch), theta_bar_native),
      1e-14);
}

/// ∂L/∂θ, ∂L/∂y0 of the TorchScript MLP and of the native one through `solver` with `method`.
template <class T>
void expect_same_gradient(const std::string& solver, const std::string& method, double tolerance) {
  BothMlps<T> m;
  const auto stepper = make_stepper<T>(solver);
  const auto gradient = make_gradient_method<T>(method);
  Batch<T> y0(2, 3);
  y0 << T(1.0), T(-0.5), T(0.2), T(0.3), T(0.8), T(-1.1);
  MseZero<T> loss;
  const SaveAt save = SaveAt::linspace(0.0, 2.0, 5);
  const GradientProblem<T> torch_problem{m.torch_field, *stepper, FixedSteps{40}, save, 0.0,
                                         2.0,           y0,       m.torch_theta,  loss};
  const GradientProblem<T> native_problem{m.native, *stepper, FixedSteps{40},  save, 0.0,
                                          2.0,      y0,       m.native_theta_, loss};
  const GradientResult<T> r_torch = gradient->compute(torch_problem);
  const GradientResult<T> r_native = gradient->compute(native_problem);
  EXPECT_NEAR(r_torch.loss, r_native.loss, tolerance * std::abs(r_native.loss));
  EXPECT_LE(relative_difference(native_theta(m.torch_field, m.native, r_torch.grad_params),
                                r_native.grad_params),
            tolerance)
      << solver << " " << method;
  EXPECT_LE(relative_difference(r_torch.grad_y0, r_native.grad_y0), tolerance)
      << solver << " " << method;
  EXPECT_GT(r_native.grad_params.norm(), T(0));
}

TEST(TorchField, GradientsEqualTheNativeMlpFloat64) {
  expect_same_gradient<double>("midpoint", "backprop", 1e-10);
  expect_same_gradient<double>("reversible:midpoint", "backprop", 1e-10);
  expect_same_gradient<double>("reversible:midpoint", "reversible", 1e-10);
}

TEST(TorchField, GradientsEqualTheNativeMlpFloat32) {
  expect_same_gradient<float>("reversible:midpoint", "reversible", 1e-4);
}

/// The revode::Error `make` throws; fails the test when it throws nothing.
template <class Make>
std::string error_of(Make&& make) {
  try {
    make();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no revode::Error";
  return "";
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

std::string eval_error(const std::string& name, double t = 0.0) {
  return error_of([&] {
    const TorchField<double> f(module_path(name));
    const Batch<double> y = random_states<double>(2, 3, 10);
    Batch<double> dy(2, 3);
    f.eval(t, y, f.initial_params(), dy);
  });
}

TEST(TorchField, BadFilesAreNamed) {
  const std::string missing = error_of([] { TorchField<double> f(module_path("does_not_exist")); });
  expect_contains(missing, "does_not_exist.pt");
  expect_contains(missing, "no such file");
  const std::string not_script =
      error_of([] { TorchField<double> f(module_path("not_torchscript")); });
  expect_contains(not_script, "not_torchscript.pt");
  expect_contains(not_script, "not a TorchScript module");
  expect_contains(error_of([] { TorchField<double> f(module_path("no_forward")); }),
                  "has no forward method");
  expect_contains(error_of([] { TorchField<double> f(module_path("one_argument")); }),
                  "forward takes 1 argument(s); expected forward(t, y)");
  expect_contains(error_of([] { TorchField<double> f(module_path("no_state_dim")); }),
                  "the state dimension is unknown");
  expect_contains(error_of([] { TorchField<double> f(module_path("mlp"), {.state_dim = 3}); }),
                  "state dimension 3 given, but the module's state_dim attribute is 2");
}

TEST(TorchField, BadOutputsAreNamed) {
  const std::string shape = eval_error("wrong_shape");
  expect_contains(shape, "wrong_shape.pt");
  expect_contains(shape, "returned shape [3, 1]; expected [3, 2]");
  expect_contains(eval_error("wrong_dtype"), "returned dtype Half; expected Double");
  expect_contains(eval_error("non_finite"), "expected finite values");
  expect_contains(eval_error("returns_tuple"), "returned Tuple; expected a tensor");
  expect_contains(eval_error("in_place"), "modified y in place");
  {
    const TorchField<double> f(module_path("raises"));
    Batch<double> dy(2, 1);
    EXPECT_NO_THROW(f.eval(0.25, Batch<double>::Ones(2, 1), f.initial_params(), dy));
  }
  const std::string raised = eval_error("raises", 0.75);
  expect_contains(raised, "forward(t, y) failed at t = 0.75");
  expect_contains(raised, "deliberate failure for t > 0.5");
}

TEST(TorchField, BadShapesAreNamed) {
  const TorchField<double> f(module_path("mlp"));
  Batch<double> dy(3, 1);
  expect_contains(error_of([&] { f.eval(0.0, Batch<double>::Zero(3, 1), f.initial_params(), dy); }),
                  "eval got y of 3 × 1; expected 2 × batch");
  expect_contains(
      error_of([&] { f.eval(0.0, Batch<double>::Zero(2, 1), Vector<double>::Zero(3), dy); }),
      "eval got θ with 3 entries");
}

}  // namespace
}  // namespace revode
