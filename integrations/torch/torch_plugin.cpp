/// The revode::torch plugin: TorchField behind a C entry point, built as a module the CLI loads
/// with dlopen only when a --field torchscript:PATH asks for it. Linking libtorch into the CLI
/// itself made every `revode` call pay libtorch's load time (0.57 s, against 3.6 ms for
/// `revode --version` without it); the plugin keeps that cost to the runs that use torch.
#include <algorithm>
#include <cstdio>
#include <exception>

#include "revode/torch/torch_field.hpp"
#include "revode/torch/torch_plugin_abi.hpp"

namespace {

template <class T>
void* create(const char* path, long long state_dim) {
  revode::TorchFieldOptions options;
  options.state_dim = revode::Index(state_dim);
  // Handed out as a VectorField<T>*, which is what the caller casts the void* back to.
  revode::VectorField<T>* field = new revode::TorchField<T>(path, options);
  return field;
}

template <class T>
void initial_params(const void* field, void* out) {
  const auto& f = static_cast<const revode::TorchField<T>&>(
      *static_cast<const revode::VectorField<T>*>(field));
  const revode::Vector<T> theta = f.initial_params();
  std::copy(theta.data(), theta.data() + theta.size(), static_cast<T*>(out));
}

}  // namespace

extern "C" {

void* revode_torch_field_create(int scalar_bytes, const char* path, long long state_dim,
                                char* error, std::size_t error_size) {
  try {
    if (scalar_bytes == 4) return create<float>(path, state_dim);
    return create<double>(path, state_dim);
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "%s", e.what());
  } catch (...) {
    std::snprintf(error, error_size, "unknown error loading the TorchScript module '%s'", path);
  }
  return nullptr;
}

void revode_torch_field_initial_params(int scalar_bytes, const void* field, void* out) {
  if (scalar_bytes == 4) initial_params<float>(field, out);
  else initial_params<double>(field, out);
}

int revode_torch_plugin_abi() { return revode::torch_plugin_abi_version; }

}  // extern "C"
