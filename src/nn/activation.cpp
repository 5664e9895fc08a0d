/// Activation kernels. tanh is hand-vectorised with Eigen's packet primitives because Eigen 3.4
/// evaluates double tanh one scalar std::tanh at a time, which dominated large-batch VJPs
/// (DESIGN.md, "Why a native engine"); the others are Eigen array expressions.

#include "revode/nn/activation.hpp"

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>
#include <string>

#include "revode/core/error.hpp"
#include "tanh_packet.hpp"

namespace revode {
namespace {

namespace ei = Eigen::internal;
using tanh_kernel::tanh_packet;

constexpr std::array<std::string_view, all_activations.size()> activation_names{
    "tanh", "softplus", "relu", "silu", "sigmoid", "elu", "identity"};

/// One contiguous run of n values. The tail goes through the same packet code via a padded
/// buffer, so a value's result never depends on its position in the block.
template <class T>
void tanh_run(T* x, T* derivative, Index n) {
  using P = typename ei::packet_traits<T>::type;
  constexpr Index width = ei::packet_traits<T>::size;
  const P one = ei::pset1<P>(T(1));
  const auto one_packet = [&](T* xp, T* dp) {
    const P t = tanh_packet(ei::ploadu<P>(xp));
    ei::pstoreu(xp, t);
    if (dp != nullptr) ei::pstoreu(dp, ei::pmul(ei::psub(one, t), ei::padd(one, t)));
  };
  Index i = 0;
  for (; i + width <= n; i += width) one_packet(x + i, derivative ? derivative + i : nullptr);
  if (i == n) return;
  alignas(64) std::array<T, width> xs{};
  alignas(64) std::array<T, width> ds{};
  std::copy(x + i, x + n, xs.begin());
  one_packet(xs.data(), ds.data());
  std::copy(xs.begin(), xs.begin() + (n - i), x + i);
  if (derivative != nullptr) std::copy(ds.begin(), ds.begin() + (n - i), derivative + i);
}

/// The other activations on one contiguous run. Written so that no intermediate overflows to
/// a NaN: exp only ever sees −|x| where its result is added to 1 or selected away.
template <class T>
void generic_run(Activation activation, T* xp, T* dp, Index n) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  Eigen::Map<Array> x(xp, n);
  Eigen::Map<Array> d(dp, dp ? n : 0);
  const bool want_d = dp != nullptr;
  switch (activation) {
    case Activation::tanh:
      tanh_run(xp, dp, n);
      return;
    case Activation::relu:
      if (want_d) d = (x > T(0)).template cast<T>();
      x = x.max(T(0));
      return;
    case Activation::sigmoid:
      x = (T(1) + (-x).exp()).inverse();
      if (want_d) d = x * (T(1) - x);
      return;
    case Activation::silu:
      if (!want_d) {
        x = x * (T(1) + (-x).exp()).inverse();
        return;
      }
      d = (T(1) + (-x).exp()).inverse();  // s = sigmoid(x)
      x = x * d;                          // silu = x·s
      d = d + x * (T(1) - d);             // silu' = s + x·s·(1 − s)
      return;
    case Activation::softplus:
      if (want_d) d = (T(1) + (-x).exp()).inverse();
      x = x.max(T(0)) + (-x.abs()).exp().log1p();
      return;
    case Activation::elu:
      if (want_d) d = (x > T(0)).select(T(1), x.exp());
      x = (x > T(0)).select(x, x.expm1());
      return;
    case Activation::identity:
      if (want_d) d.setOnes();
      return;
  }
}

template <class T>
bool contiguous(const BatchRef<T>& x) {
  return x.cols() <= 1 || x.outerStride() == x.rows();
}

template <class T>
void activate_impl(Activation activation, BatchRef<T>& x, BatchRef<T>* derivative) {
  if (x.size() == 0) return;
  const bool flat = contiguous(x) && (derivative == nullptr || contiguous(*derivative));
  if (flat) {
    generic_run(activation, x.data(), derivative ? derivative->data() : nullptr, x.size());
    return;
  }
  for (Index j = 0; j < x.cols(); ++j)
    generic_run(activation, x.col(j).data(), derivative ? derivative->col(j).data() : nullptr,
                x.rows());
}

}  // namespace

std::string_view activation_name(Activation activation) {
  return activation_names.at(static_cast<std::size_t>(activation));
}

Activation parse_activation(std::string_view name) {
  for (std::size_t i = 0; i < activation_names.size(); ++i)
    if (activation_names[i] == name) return all_activations[i];
  std::string known;
  for (const std::string_view valid : activation_names)
    known.append(known.empty() ? "" : ", ").append(valid);
  throw Error(fmt::format("unknown activation '{}' (known: {})", name, known));
}

template <class T>
void activate(Activation activation, BatchRef<T> x) {
  activate_impl<T>(activation, x, nullptr);
}

template <class T>
void activate(Activation activation, BatchRef<T> x, BatchRef<T> derivative) {
  require(derivative.rows() == x.rows() && derivative.cols() == x.cols(),
          "activate: derivative is {}×{}, expected the shape of x, {}×{}", derivative.rows(),
          derivative.cols(), x.rows(), x.cols());
  activate_impl<T>(activation, x, &derivative);
}

template void activate<float>(Activation, BatchRef<float>);
template void activate<double>(Activation, BatchRef<double>);
template void activate<float>(Activation, BatchRef<float>, BatchRef<float>);
template void activate<double>(Activation, BatchRef<double>, BatchRef<double>);

}  // namespace revode
