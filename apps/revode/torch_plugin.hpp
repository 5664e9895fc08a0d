/// --field torchscript:PATH through the revode::torch plugin, loaded with dlopen on first use
/// (see integrations/torch/torch_plugin.cpp for why it is not linked in).
#pragma once

#include <memory>
#include <string>

#include "revode/core/vector_field.hpp"

namespace revode::cli {

/// A TorchScript module as a field, and its own θ. state_dim 0: the module's attribute.
/// @throws revode::Error when the plugin cannot be found or loaded, or the module is bad.
template <class T>
struct TorchScriptField {
  std::unique_ptr<VectorField<T>> field;
  Vector<T> theta;
};

template <class T>
TorchScriptField<T> load_torchscript_field(const std::string& path, Index state_dim);

}  // namespace revode::cli
