/// The dataset registry, the data directory and dataset fingerprints.
#include "revode/train/dataset.hpp"

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "revode/core/error.hpp"

#ifndef REVODE_SOURCE_DIR
#define REVODE_SOURCE_DIR "."
#endif

namespace revode {
namespace {

/// FNV-1a, 64-bit (Fowler, Noll & Vo): a checksum, not a cryptographic hash.
void fnv1a(std::uint64_t& hash, const void* data, std::size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) {
    hash ^= p[i];
    hash *= 0x100000001b3ULL;
  }
}

/// "ensemble:FIELD:N" or "ensemble:FIELD:N:SEED".
Dataset parse_ensemble(std::string_view name) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t colon = name.find(':', start);
    parts.push_back(name.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  const auto integer = [&](std::string_view text, auto& value) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return !text.empty() && ec == std::errc() && end == text.data() + text.size();
  };
  Index n = 0;
  std::uint64_t seed = 0;
  require((parts.size() == 3 || parts.size() == 4) && integer(parts[2], n) &&
              (parts.size() == 3 || integer(parts[3], seed)),
          "dataset '{}': expected ensemble:FIELD:N or ensemble:FIELD:N:SEED (e.g. "
          "ensemble:lotka-volterra:256) with integers N >= 1 and SEED >= 0",
          name);
  return ensemble_dataset(parts[1], n, seed);
}

}  // namespace

std::string Dataset::fingerprint() const {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  const Index shape[2] = {states.rows(), states.cols()};
  fnv1a(hash, shape, sizeof shape);
  if (!recipe.empty()) {
    fnv1a(hash, recipe.data(), recipe.size());
    return fmt::format("{:016x}", hash);
  }
  fnv1a(hash, times.data(), times.size() * sizeof(double));
  fnv1a(hash, states.data(), std::size_t(states.size()) * sizeof(double));
  return fmt::format("{:016x}", hash);
}

std::vector<std::string> dataset_names() { return {"white-dwarf", "oscillator", "pendulum"}; }

Dataset make_dataset(std::string_view name) {
  if (name == "white-dwarf") return white_dwarf_dataset();
  if (name == "oscillator") return schmidt_lipson_dataset(SchmidtLipson::oscillator);
  if (name == "pendulum") return schmidt_lipson_dataset(SchmidtLipson::pendulum);
  if (name.starts_with("ensemble:")) return parse_ensemble(name);
  require(name.ends_with(".csv") || name.find('/') != std::string_view::npos,
          "unknown dataset '{}' (known: white-dwarf, oscillator, pendulum, ensemble:FIELD:N, or a "
          "CSV file)", name);
  return read_csv_dataset(std::string(name));
}

std::string data_directory() {
  // Set by the build to the source tree; REVODE_DATA_DIR wins so an installed or moved
  // binary can still find the files.
  if (const char* dir = std::getenv("REVODE_DATA_DIR"); dir != nullptr && *dir != '\0')
    return dir;
  return std::string(REVODE_SOURCE_DIR) + "/data";
}

}  // namespace revode
