/// Gradient methods by name (the CLI's `--method`): the only list of them. Adding one: write
/// gradients/<name>.hpp/.cpp and add one entry in registry.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "revode/gradients/gradient_method.hpp"
#include "revode/gradients/reversible_guard.hpp"

namespace revode {

/// The method for `spec`, e.g. "backprop" or "checkpoint:8"; throws revode::Error listing
/// the known methods otherwise. `guard` configures the reconstruction guard of "reversible".
template <class T>
std::unique_ptr<GradientMethod<T>> make_gradient_method(std::string_view spec,
                                                        const ReversibleGuard& guard = {});

/// Every method name, with its argument shown where it takes one (e.g. "checkpoint:C").
std::vector<std::string> gradient_method_names();

}  // namespace revode
