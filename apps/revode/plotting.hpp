/// Plots are drawn by small matplotlib scripts (scripts/plot_*.py) run with Debian's
/// /usr/bin/python3. A missing Python or script costs the picture (a warning), never the run;
/// a script that fails (matplotlib missing, the PNG unwritable) is an error.
#pragma once

#include <string>
#include <vector>

namespace revode::cli {

/// Runs scripts/<script> with the arguments; returns false (after printing a warning on
/// stderr) when Python or the script is missing. Throws revode::Error when the script fails.
bool run_plot_script(const std::string& script, const std::vector<std::string>& args);

}  // namespace revode::cli
