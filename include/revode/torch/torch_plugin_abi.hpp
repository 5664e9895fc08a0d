/// The C entry points of the revode::torch plugin (integrations/torch/torch_plugin.cpp), which
/// the CLI dlopens for --field torchscript:PATH. A plain-C surface, so only the plugin links
/// libtorch; the objects it returns are revode::VectorField<T> (T by scalar_bytes: 4 float,
/// 8 double), owned by the caller and deleted through the virtual destructor.
#pragma once

#include <cstddef>

namespace revode {
/// Bumped whenever an entry point changes: the loader refuses a plugin of another version.
inline constexpr int torch_plugin_abi_version = 1;
}  // namespace revode

extern "C" {
/// A new TorchField<T> over the module at `path` (state_dim 0: the module's attribute), or
/// nullptr with the message in `error`.
void* revode_torch_field_create(int scalar_bytes, const char* path, long long state_dim,
                                char* error, std::size_t error_size);
/// Writes the module's parameters, param_count() scalars of T, to `out`.
void revode_torch_field_initial_params(int scalar_bytes, const void* field, void* out);
int revode_torch_plugin_abi();
}
