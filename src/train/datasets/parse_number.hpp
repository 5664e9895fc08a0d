/// Strict number parsing for the data loaders: the whole token must be a finite double.
#pragma once

#include <charconv>
#include <cmath>
#include <string_view>

namespace revode::detail {

/// True and the value when `token` is exactly one finite number (no trailing characters);
/// std::from_chars, so the result does not depend on the C locale.
inline bool parse_finite(std::string_view token, double& value) {
  if (!token.empty() && token.front() == '+') token.remove_prefix(1);  // from_chars rejects '+'
  const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
  return !token.empty() && ec == std::errc() && end == token.data() + token.size() &&
         std::isfinite(value);
}

/// token with leading and trailing spaces, tabs and carriage returns removed.
inline std::string_view trim(std::string_view token) {
  const auto first = token.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return token.substr(first, token.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace revode::detail
