// The message of the revode::Error a call throws, for tests of error messages.
#pragma once

#include <string>

#include "revode/core/error.hpp"

namespace revode::testing {

/// What `call()` threw as revode::Error; `none` when it threw nothing.
template <class Call>
std::string error_of(Call&& call, const std::string& none = "") {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  return none;
}

}  // namespace revode::testing
