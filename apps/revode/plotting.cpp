#include "plotting.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "revode/core/error.hpp"

namespace revode::cli {
namespace {

/// Single-quotes an argument for the shell.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// REVODE_SCRIPTS overrides; otherwise the source tree's scripts/, then the installed copy.
std::filesystem::path scripts_dir() {
  if (const char* env = std::getenv("REVODE_SCRIPTS")) return env;
  if (std::filesystem::exists(REVODE_SOURCE_SCRIPTS)) return REVODE_SOURCE_SCRIPTS;
  return REVODE_INSTALLED_SCRIPTS;
}

}  // namespace

bool run_plot_script(const std::string& script, const std::vector<std::string>& args) {
  const std::filesystem::path path = scripts_dir() / script;
  const char* python = "/usr/bin/python3";
  if (!std::filesystem::exists(path) || !std::filesystem::exists(python)) {
    fmt::print(stderr, "revode: warning: no plot ({} or {} is missing)\n", path.string(), python);
    return false;
  }
  std::string command = fmt::format("{} {}", python, quoted(path.string()));
  for (const auto& a : args) command.append(" ").append(quoted(a));
  // The picture is an output like any other: asked for and not written is an error.
  require(std::system(command.c_str()) == 0,
          "the plot script {} failed, so the plot was not written (is python3-matplotlib "
          "installed? run `{}` to see why)",
          script, command);
  return true;
}

}  // namespace revode::cli
