#include "option_checks.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>

#include "revode/core/text_parsing.hpp"

namespace revode::cli {
namespace {

std::string excerpt_of(const std::string& text) {
  return text.size() <= 40 ? text : text.substr(0, 40) + "…";
}

/// `text` as a decimal integer of type Int, rewritten in canonical form (CLI11 then reads
/// it with base 0, where a leading 0 would mean octal); an error message otherwise.
template <class Int>
std::string canonical_integer(std::string& text) {
  Int value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    return fmt::format("'{}' is not an integer in [{}, {}]", excerpt_of(text),
                       std::numeric_limits<Int>::min(), std::numeric_limits<Int>::max());
  text = std::to_string(value);
  return {};
}

void check_option(CLI::Option& option) {
  if (option.get_expected_min() == 0) return;  // a flag
  const std::string type = option.get_type_name();
  const bool may_be_empty = option.check_lname("plot");
  if (type == "INT")
    option.transform(CLI::Validator(canonical_integer<std::int64_t>, "", "int64"));
  else if (type == "UINT")
    option.transform(CLI::Validator(canonical_integer<std::uint64_t>, "", "uint64"));
  else if (!may_be_empty)
    option.check(CLI::Validator(
        [](std::string& text) {
          return trim(text).empty() ? std::string("the value is empty") : std::string();
        },
        "", "non-empty"));
}

}  // namespace

void check_option_values(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) check_option(*option);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    check_option_values(*sub);
}

CLI::Validator unit_interval() {
  return CLI::Validator(
      [](std::string& text) {
        const auto value = parse_double(text);
        if (value && *value > 0 && *value <= 1) return std::string();
        return fmt::format("'{}': required a number in (0, 1]", text.substr(0, 40));
      },
      "in (0, 1]", "unit-interval");
}

}  // namespace revode::cli
