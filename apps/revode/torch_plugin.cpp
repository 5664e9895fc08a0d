/// Finds and loads the revode::torch plugin: $REVODE_TORCH_PLUGIN, else the one built beside
/// this binary's build tree, else the installed one (both set by CMake when libtorch is found).
#include "torch_plugin.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "revode/core/error.hpp"
#include "revode/torch/torch_plugin_abi.hpp"


namespace revode::cli {
namespace {

using Create = void* (*)(int, const char*, long long, char*, std::size_t);
using InitialParams = void (*)(int, const void*, void*);
using Abi = int (*)();

struct Plugin {
  Create create = nullptr;
  InitialParams initial_params = nullptr;
};

std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("REVODE_TORCH_PLUGIN"); env != nullptr && *env != '\0')
    out.emplace_back(env);
#if defined(REVODE_TORCH_PLUGIN_BUILT) && defined(REVODE_TORCH_PLUGIN_INSTALLED)
  out.emplace_back(REVODE_TORCH_PLUGIN_BUILT);
  out.emplace_back(REVODE_TORCH_PLUGIN_INSTALLED);
#endif
  return out;
}

/// Loaded once per process; the handle is never closed (fields it made may outlive any scope).
const Plugin& plugin() {
  static const Plugin loaded = [] {
    std::string tried;
    for (const std::string& path : candidates()) {
      if (!std::filesystem::exists(path)) {
        tried += fmt::format("\n  {} (not found)", path);
        continue;
      }
      void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle == nullptr) {
        tried += fmt::format("\n  {} ({})", path, dlerror());
        continue;
      }
      const auto abi = reinterpret_cast<Abi>(dlsym(handle, "revode_torch_plugin_abi"));
      Plugin p{reinterpret_cast<Create>(dlsym(handle, "revode_torch_field_create")),
               reinterpret_cast<InitialParams>(dlsym(handle, "revode_torch_field_initial_params"))};
      if (abi == nullptr || p.create == nullptr || p.initial_params == nullptr ||
          abi() != torch_plugin_abi_version) {
        tried += fmt::format("\n  {} (not a revode::torch plugin of ABI version {})", path,
                             torch_plugin_abi_version);
        continue;
      }
      return p;
    }
    throw Error(fmt::format(
        "--field torchscript: needs the revode::torch plugin (librevode_torch_plugin.so, built "
        "when libtorch is found: Debian's libtorch-dev, REVODE_BUILD_TORCH=ON), and none could "
        "be loaded; set REVODE_TORCH_PLUGIN to its path. Tried:{}",
        tried.empty() ? std::string("\n  (no candidate paths: this revode was built without "
                                    "libtorch)")
                      : tried));
  }();
  return loaded;
}

}  // namespace

template <class T>
TorchScriptField<T> load_torchscript_field(const std::string& path, Index state_dim) {
  const Plugin& p = plugin();
  std::array<char, 4096> error{};
  void* made = p.create(int(sizeof(T)), path.c_str(), static_cast<long long>(state_dim),
                        error.data(), error.size());
  require(made != nullptr, "{}", error.data());
  TorchScriptField<T> out{std::unique_ptr<VectorField<T>>(static_cast<VectorField<T>*>(made)), {}};
  out.theta.resize(out.field->param_count());
  p.initial_params(int(sizeof(T)), made, out.theta.data());
  return out;
}

template TorchScriptField<float> load_torchscript_field<float>(const std::string&, Index);
template TorchScriptField<double> load_torchscript_field<double>(const std::string&, Index);

}  // namespace revode::cli
