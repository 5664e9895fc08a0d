/// Automatic first step for adaptive solves: Hairer, Nørsett & Wanner, "Solving ODEs I",
/// §II.4 (the algorithm behind `dt0 = None` in diffrax and torchdiffeq). Shared by every
/// adaptive solve so it is written once.
#pragma once

#include "revode/core/vector_field.hpp"

namespace revode {

/// A first step size (> 0) for integrating from (t0, y0) towards t1 with a method of
/// `order`, given f0 = f(t0, y0). Costs one evaluation of f.
template <class T>
double initial_step(const VectorField<T>& f, double t0, double t1, const ConstBatchRef<T>& y0,
                    const ConstBatchRef<T>& f0, const ConstVectorRef<T>& theta, int order,
                    double rtol, double atol);

}  // namespace revode
