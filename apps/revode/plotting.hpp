/// Plots are drawn by small matplotlib scripts (scripts/plot_*.py) run with Debian's
/// /usr/bin/python3. A missing Python or matplotlib costs the picture, never the run.
#pragma once

#include <string>
#include <vector>

namespace revode::cli {

/// Runs scripts/<script> with the arguments; returns false (after printing a warning on
/// stderr) when the plot could not be made.
bool run_plot_script(const std::string& script, const std::vector<std::string>& args);

}  // namespace revode::cli
