#include "revode/core/text_parsing.hpp"

#include <charconv>
#include <cstdlib>

#include "revode/core/error.hpp"

namespace revode {

namespace {
constexpr std::string_view whitespace = " \t\r\n\v\f";
bool is_space(char c) { return whitespace.find(c) != std::string_view::npos; }
}  // namespace

std::string_view trim(std::string_view text) {
  const std::size_t first = text.find_first_not_of(whitespace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(whitespace) - first + 1);
}

std::optional<double> parse_double(std::string_view token) {
  token = trim(token);
  if (token.empty()) return std::nullopt;
  // strtod needs a terminated string; it also reads "nan" and "inf", which callers must see
  // so that they can reject them with a message instead of a silent NaN later.
  const std::string copy(token);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return value;
}

std::optional<long long> parse_count(std::string_view token) {
  token = trim(token);
  long long value = 0;
  const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (token.empty() || ec != std::errc{} || end != token.data() + token.size() || value < 0)
    return std::nullopt;
  return value;
}

std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  if (trim(text).empty()) return fields;
  // Commas are hard separators (two in a row leave an empty field, which callers reject);
  // inside each comma-separated piece, whitespace separates too.
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view piece = text.substr(start, comma - start);
    if (trim(piece).empty()) fields.emplace_back();
    for (std::size_t i = 0; i < piece.size();) {
      if (is_space(piece[i])) {
        ++i;
        continue;
      }
      std::size_t end = i;
      while (end < piece.size() && !is_space(piece[end])) ++end;
      fields.push_back(piece.substr(i, end - i));
      i = end;
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return fields;
}

std::vector<double> parse_number_list(std::string_view text, std::string_view what) {
  std::vector<double> values;
  const auto fields = split_fields(text);
  require(!fields.empty(), "{} is empty; expected comma-separated numbers such as 1,0.5", what);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto value = parse_double(fields[i]);
    require(value.has_value(), "{} entry {} is '{}'; expected a number", what, i, fields[i]);
    values.push_back(*value);
  }
  return values;
}

}  // namespace revode
