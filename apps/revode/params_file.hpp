/// `--params FILE`: a JSON object {"params": [numbers...]} that replaces the field's θ.
#pragma once

#include <string>

#include "revode/core/vector_field.hpp"

namespace revode::cli {

/// Reads θ for `field`. Throws revode::Error naming the file and the problem: unreadable, not
/// JSON, no "params" array, wrong length, an entry that is not a number or not finite in T.
template <class T>
Vector<T> read_params_file(const std::string& path, const VectorField<T>& field);

extern template Vector<float> read_params_file<float>(const std::string&,
                                                      const VectorField<float>&);
extern template Vector<double> read_params_file<double>(const std::string&,
                                                        const VectorField<double>&);

}  // namespace revode::cli
