#include "revode/gradients/registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>

#include "revode/core/error.hpp"
#include "revode/gradients/checkpointed.hpp"
#include "revode/gradients/continuous_adjoint.hpp"
#include "revode/gradients/direct_backprop.hpp"
#include "revode/gradients/reversible_backprop.hpp"
#include "revode/gradients/symplectic_adjoint.hpp"

namespace revode {

namespace {

/// C of "checkpoint:C": an integer >= 1, or an error that shows the expected form.
Index checkpoint_slots(std::string_view spec) {
  const std::string_view arg = spec.substr(std::string_view("checkpoint:").size());
  Index slots = 0;
  const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), slots);
  require(!arg.empty() && ec == std::errc() && end == arg.data() + arg.size(),
          "gradient method '{}': '{}' is not a number of checkpoint slots (expected "
          "checkpoint:C with an integer C >= 1, e.g. checkpoint:8)",
          spec, arg);
  require(slots >= 1, "gradient method '{}': the number of checkpoint slots must be >= 1", spec);
  return slots;
}

}  // namespace

std::vector<std::string> gradient_method_names() {
  return {"backprop", "reversible", "anode", "checkpoint:C", "symplectic",
          "adjoint[:rtol=R,atol=A,seminorm]"};
}

template <class T>
std::unique_ptr<GradientMethod<T>> make_gradient_method(std::string_view spec,
                                                        const ReversibleGuard& guard) {
  if (spec == "backprop") return std::make_unique<DirectBackprop<T>>();
  if (spec == "reversible") return std::make_unique<ReversibleBackprop<T>>(guard);
  if (spec == "anode") return std::make_unique<Checkpointed<T>>(Checkpointed<T>::anode());
  if (spec.starts_with("checkpoint:"))
    return std::make_unique<Checkpointed<T>>(Checkpointed<T>::with_slots(checkpoint_slots(spec)));
  if (spec == "symplectic") return std::make_unique<SymplecticAdjoint<T>>();
  if (spec == "adjoint") return std::make_unique<ContinuousAdjoint<T>>();
  if (spec.starts_with("adjoint:"))
    return std::make_unique<ContinuousAdjoint<T>>(AdjointOptions::parse(spec.substr(8)));
  throw Error(fmt::format("unknown gradient method '{}' (known: {})", spec,
                          fmt::join(gradient_method_names(), ", ")));
}

template std::unique_ptr<GradientMethod<float>> make_gradient_method<float>(
    std::string_view, const ReversibleGuard&);
template std::unique_ptr<GradientMethod<double>> make_gradient_method<double>(
    std::string_view, const ReversibleGuard&);

}  // namespace revode
