/// How a solve ended, with one sentence each (diffrax's RESULTS, STYLE.md E7), and the error
/// that carries a failed status out of the API with the time reached.
#pragma once

#include <cstdint>
#include <string_view>

#include "revode/core/error.hpp"

namespace revode {

enum class Status : std::uint8_t {
  success,
  max_steps_reached,
  step_size_underflow,
  non_finite_state,
};

constexpr std::string_view describe(Status s) noexcept {
  switch (s) {
    case Status::success:
      return "success";
    case Status::max_steps_reached:
      return "reached max_steps before t1; raise max_steps or loosen rtol/atol";
    case Status::step_size_underflow:
      return "step size fell below dtmin (or below the spacing of floating-point times); the "
             "problem may be stiff or non-smooth here";
    case Status::non_finite_state:
      return "the state became NaN or Inf; check the vector field, its parameters and y0";
  }
  return "unknown status";
}

/// A solve that could not reach t1. `t_reached` is the last time with a finite accepted state.
class SolveError : public Error {
 public:
  SolveError(Status status, double t_reached, const std::string& detail)
      : Error(fmt::format("solve failed at t = {}: {}{}", t_reached, describe(status), detail)),
        status_(status),
        t_reached_(t_reached) {}
  Status status() const { return status_; }
  double t_reached() const { return t_reached_; }

 private:
  Status status_;
  double t_reached_;
};

}  // namespace revode
