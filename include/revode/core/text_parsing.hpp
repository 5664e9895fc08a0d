/// Small text helpers for the command-line tool and the spec parsers (e.g. cde_spec.hpp): numbers
/// and comma/whitespace-separated lists, with the caller naming the source in its own error
/// messages.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace revode {

/// `text` without leading and trailing whitespace.
std::string_view trim(std::string_view text);

/// The whole of `token` as a double (strtod syntax: "1e-3", "nan", "inf" included), or nothing
/// when it is empty or has trailing characters.
std::optional<double> parse_double(std::string_view token);

/// The whole of `token` as a non-negative integer, or nothing.
std::optional<long long> parse_count(std::string_view token);

/// Splits at commas and whitespace: "1, 2  3" gives {"1", "2", "3"}. An empty field between two
/// commas (or before a trailing comma) is kept as "" so that callers can reject it.
std::vector<std::string_view> split_fields(std::string_view text);

/// Parses "v1,v2,..." into doubles. Throws revode::Error naming `what` and the bad entry.
std::vector<double> parse_number_list(std::string_view text, std::string_view what);

}  // namespace revode
