#include "revode/gradients/registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "revode/core/error.hpp"
#include "revode/gradients/direct_backprop.hpp"

namespace revode {

std::vector<std::string> gradient_method_names() { return {"backprop"}; }

template <class T>
std::unique_ptr<GradientMethod<T>> make_gradient_method(std::string_view spec) {
  if (spec == "backprop") return std::make_unique<DirectBackprop<T>>();
  throw Error(fmt::format("unknown gradient method '{}' (known: {})", spec,
                          fmt::join(gradient_method_names(), ", ")));
}

template std::unique_ptr<GradientMethod<float>> make_gradient_method<float>(std::string_view);
template std::unique_ptr<GradientMethod<double>> make_gradient_method<double>(std::string_view);

}  // namespace revode
