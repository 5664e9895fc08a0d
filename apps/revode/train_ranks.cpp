/// TrainRanks: MPI's ranks through revode::mpi when built with it (REVODE_WITH_MPI), else one.
#include "train_ranks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "revode/core/error.hpp"

#ifdef REVODE_WITH_MPI
#include "revode/mpi/mpi_communicator.hpp"
#endif

namespace revode::cli {

#ifdef REVODE_WITH_MPI
struct TrainRanks::Mpi {
  mpi::Session session;
};
#else
struct TrainRanks::Mpi {};
#endif

int launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0')
      return std::max(1, std::atoi(value));
  return 1;
}

TrainRanks::TrainRanks() {
  const int launched = launched_ranks();
#ifdef REVODE_WITH_MPI
  // Without a launcher MPI is not started at all: a singleton MPI_Init costs time and, in
  // containers, may fail for want of a daemon.
  if (launched > 1 || std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE")) {
    mpi_ = std::make_unique<Mpi>();
    comm_ = std::make_shared<const mpi::Communicator>();
    return;
  }
#else
  require(launched == 1,
          "started as one of {} MPI processes, but this revode was built without MPI "
          "(revode::mpi): each process would train alone and overwrite the others' files; "
          "install libopenmpi-dev and rebuild (docs/mpi.md)",
          launched);
#endif
  comm_ = std::make_shared<const SerialCommunicator>();
}

TrainRanks::~TrainRanks() {
  comm_.reset();  // before MPI_Finalize
}

void TrainRanks::abort_all(const std::string& message) const {
  if (comm_->size() == 1) return;
  fmt::print(stderr, "revode: error (rank {} of {}): {}\n", comm_->rank(), comm_->size(), message);
  std::fflush(stderr);
#ifdef REVODE_WITH_MPI
  mpi_->session.abort(2);
#endif
}

}  // namespace revode::cli
