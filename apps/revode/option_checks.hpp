/// Checks that CLI11 2.1 leaves out, applied to every option of every subcommand at once
/// (main.cpp calls check_option_values after registering the commands), so a new option gets
/// them without a line of its own:
/// - integers: decimal digits only, within the range of the option's type (CLI11 would
///   saturate 99999999999999999999 to 2^63 − 1, wrap 18446744073709551616 to 0 for an
///   unsigned, and read "010" as octal 8);
/// - values: never empty (`--iterations ''` would read as 0, `--y0 ''` as "not given"),
///   except for --plot, where empty means "no plot".
#pragma once

#include <CLI/CLI.hpp>

namespace revode::cli {

/// Adds the checks above to every option of `app` and of its subcommands, recursively.
void check_option_values(CLI::App& app);

/// A validator for a number in (0, 1] (the reversible solvers' coupling λ and damping η):
/// an explicit value outside is an error even with a solver that does not use it.
CLI::Validator unit_interval();

}  // namespace revode::cli
