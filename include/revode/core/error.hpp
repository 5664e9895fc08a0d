/// The one exception type of revode and the `require` check that raises it.
/// Messages name the offending value and what was expected (DESIGN.md, "Errors").
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace revode {

/// Every error revode reports: bad input, failed solves, bad files.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Throws revode::Error with a fmt-formatted message when `condition` is false.
template <class... Args>
void require(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace revode
