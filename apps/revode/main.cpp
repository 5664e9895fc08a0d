/// `revode`: the command-line front end. Parses the subcommand, runs it, and turns every
/// revode::Error into one line on stderr and exit status 2 (a bad flag too: CLI11 prints its
/// message, and its own codes 101–120 become 2), so a bad input never ends in a crash or a stack
/// trace, and scripts test one status for every kind of bad input.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "commands.hpp"
#include "option_checks.hpp"
#include "revode/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"revode: neural ODEs with exact gradients. Run `revode COMMAND --help`.", "revode"};
  app.set_version_flag("--version", "revode " REVODE_VERSION);
  app.require_subcommand(1);
  revode::cli::add_solve_command(app);
  revode::cli::add_grad_command(app);
  revode::cli::add_train_command(app);
  revode::cli::add_deq_command(app);
  revode::cli::add_stability_command(app);
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks and reproductions (see README)");
  bench->require_subcommand(1);
  revode::cli::add_bench_complexity_command(*bench);
  revode::cli::add_bench_paper_command(*bench);
  revode::cli::add_bench_parallel_command(*bench);
  revode::cli::check_option_values(app);
  try {
    app.parse(argc, argv);  // runs the chosen subcommand's callback
    // Output to a full disk or a closed pipe fails only here, at the last flush.
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0)
      throw revode::Error(
          fmt::format("cannot write the standard output: {}", std::strerror(errno)));
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as ParseErrors with code 0; every real parse error is a bad input.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const revode::Error& e) {
    fmt::print(stderr, "revode: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {  // e.g. std::bad_alloc for an enormous batch
    fmt::print(stderr, "revode: internal error: {}\n", e.what());
    return 3;
  }
  return 0;
}
