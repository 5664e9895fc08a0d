/// revode::mpi: MPI's session and the rank-order sum (see the header).
#include "revode/mpi/mpi_reducer.hpp"

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

int Session::rank() const {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int Session::size() const {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

void Session::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest if it did
}

Reducer::Reducer() {
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
}

void Reducer::sum_in_rank_order(Vector<double>& values) const {
  const Index n = values.size();
  require(n <= Index(std::numeric_limits<int>::max()),
          "MPI sum of {} values: more than an MPI count can hold", n);
  gathered_.resize(std::size_t(n) * std::size_t(size_));
  check(MPI_Allgather(values.data(), int(n), MPI_DOUBLE, gathered_.data(), int(n), MPI_DOUBLE,
                      MPI_COMM_WORLD),
        "MPI_Allgather");
  values = Eigen::Map<const Vector<double>>(gathered_.data(), n);
  for (int r = 1; r < size_; ++r)
    values += Eigen::Map<const Vector<double>>(gathered_.data() + std::size_t(r) * std::size_t(n), n);
}

}  // namespace revode::mpi
