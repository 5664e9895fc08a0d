/// Elementwise activations of the MLP's hidden layers and their fused kernels: one pass over a
/// block writes σ(x) in place and, when a VJP needs it, σ'(x) beside it. tanh is evaluated with
/// vectorised packets (Cephes' tanh formulation, Moshier 1989); accuracy in activation.cpp.
#pragma once

#include <array>
#include <string_view>

#include "revode/core/types.hpp"

namespace revode {

/// The hidden-layer activations. elu uses α = 1 (so it is C¹); softplus is log(1 + eˣ).
enum class Activation { tanh, softplus, relu, silu, sigmoid, elu, identity };

/// Every activation, in the order error messages list them.
inline constexpr std::array all_activations{
    Activation::tanh,    Activation::softplus, Activation::relu,     Activation::silu,
    Activation::sigmoid, Activation::elu,      Activation::identity,
};

/// The lowercase name, e.g. "tanh"; parse_activation(activation_name(a)) == a.
std::string_view activation_name(Activation activation);

/// Parses a name as printed by activation_name. Throws revode::Error listing the valid names.
Activation parse_activation(std::string_view name);

/// x ← σ(x), in place.
/// @param x rows × cols, unit inner stride (columns may be strided; a contiguous block is
///          processed as one flat run, which is faster for narrow layers).
template <class T>
void activate(Activation activation, BatchRef<T> x);

/// x ← σ(x) and derivative ← σ'(x) (σ' at the old x), in one pass over the block.
/// @param x, derivative same shape, unit inner stride, must not overlap.
/// Finite inputs give finite outputs for every activation; NaN propagates.
template <class T>
void activate(Activation activation, BatchRef<T> x, BatchRef<T> derivative);

}  // namespace revode
