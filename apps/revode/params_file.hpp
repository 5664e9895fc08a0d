/// `--params FILE`: a JSON object {"params": [numbers...]} that replaces the field's θ.
#pragma once

#include <string>

#include "revode/core/vector_field.hpp"

namespace revode::cli {

/// Reads θ for `field`. Throws revode::Error naming the file and the problem: unreadable, not
/// JSON, no "params" array, wrong length, an entry that is not a number or not finite in T.
/// `defaults`: the field's current θ. A CdeField's file may hold the network's θ alone (as
/// `revode train --field cde:...` writes it); the observations then come from `defaults`.
template <class T>
Vector<T> read_params_file(const std::string& path, const VectorField<T>& field,
                           const Vector<T>* defaults = nullptr);

extern template Vector<float> read_params_file<float>(const std::string&,
                                                      const VectorField<float>&,
                                                      const Vector<float>*);
extern template Vector<double> read_params_file<double>(const std::string&,
                                                        const VectorField<double>&,
                                                        const Vector<double>*);

}  // namespace revode::cli
