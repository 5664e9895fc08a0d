/// The error of a step shorter than its stepper can take.
#pragma once

#include "revode/core/error.hpp"

namespace revode {

/// A step shorter than the stepper can take (an SDE step below what its Brownian tree
/// resolves, sde_steppers.hpp: require_resolved_step). Its own type so that the adaptive loop
/// can tell the cause: reached after rejections for NaN/Inf states, the state is at fault, not
/// the tolerance.
class StepTooShortError : public Error {
 public:
  using Error::Error;
};

}  // namespace revode
