/// revode::mpi: MPI's session and MPI_COMM_WORLD as a Communicator (see the header).
#include "revode/mpi/mpi_communicator.hpp"

#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "revode/core/error.hpp"

namespace revode::mpi {
namespace {

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(fmt::format("{} failed: {}", call, std::string(text, std::size_t(length))));
}

}  // namespace

Session::Session() {
  int initialised = 0;
  check(MPI_Initialized(&initialised), "MPI_Initialized");
  if (initialised) return;
  check(MPI_Init(nullptr, nullptr), "MPI_Init");
  owns_ = true;
  // Errors come back as codes (check() turns them into revode::Error) instead of aborting.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

Session::~Session() {
  if (owns_) MPI_Finalize();
}

void Session::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest if it did
}

Communicator::Communicator() {
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
}

void Communicator::all_gather(const Vector<double>& mine, Vector<double>& all,
                              const std::vector<Index>& counts) const {
  require(Index(counts.size()) == size_ && counts[std::size_t(rank_)] == mine.size(),
          "MPI all-gather: {} counts for {} ranks, this rank's {} for {} values", counts.size(),
          size_, counts.size() > std::size_t(rank_) ? counts[std::size_t(rank_)] : -1, mine.size());
  counts_.resize(counts.size());
  displacements_.resize(counts.size());
  Index total = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    require(total + counts[r] <= Index(std::numeric_limits<int>::max()),
            "MPI all-gather of more than {} values: more than an MPI count can hold",
            std::numeric_limits<int>::max());
    counts_[r] = int(counts[r]);
    displacements_[r] = int(total);
    total += counts[r];
  }
  all.resize(total);
  check(MPI_Allgatherv(mine.data(), int(mine.size()), MPI_DOUBLE, all.data(), counts_.data(),
                       displacements_.data(), MPI_DOUBLE, MPI_COMM_WORLD),
        "MPI_Allgatherv");
}

}  // namespace revode::mpi
