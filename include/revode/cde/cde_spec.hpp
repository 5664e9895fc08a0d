/// --field cde:FILE[,key=value...]: a neural CDE field over a file of observations
/// (docs/cde.md, docs/cli.md). The file has one row per observation time: the time, then
/// channels × batch values (sample 0's channels first; nan = missing), comma- or
/// whitespace-separated, '#' starting a comment line.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "revode/core/vector_field.hpp"
#include "revode/nn/activation.hpp"
#include "revode/nn/mlp.hpp"

namespace revode {

inline bool is_cde_field(std::string_view field) { return field.starts_with("cde:"); }

template <class T>
struct CdeFieldBuild {
  std::unique_ptr<VectorField<T>> field;
  Vector<T> theta;            ///< [network θ from --init/--seed | path values from the file]
  double t0 = 0.0, t1 = 1.0;  ///< the first and last observation times
};

/// @throws revode::Error naming the bad key, value, file line or shape.
template <class T>
CdeFieldBuild<T> build_cde_field(const std::string& field, Index batch, Activation activation,
                                 Init init, std::uint64_t seed);

extern template CdeFieldBuild<float> build_cde_field<float>(const std::string&, Index, Activation,
                                                            Init, std::uint64_t);
extern template CdeFieldBuild<double> build_cde_field<double>(const std::string&, Index, Activation,
                                                              Init, std::uint64_t);

}  // namespace revode
