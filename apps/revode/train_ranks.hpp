/// The processes `revode train` runs on: the ranks of MPI when this revode was built with
/// revode::mpi and started by mpirun (docs/mpi.md), else this one process. The one place of
/// the CLI that knows whether MPI is there; the trainer only sees a Communicator.
#pragma once

#include <memory>
#include <string>

#include "revode/train/communicator.hpp"

namespace revode::cli {

class TrainRanks {
 public:
  /// Starts MPI when launched by mpirun. Throws revode::Error when launched with P > 1
  /// processes by a revode built without MPI (each would train alone and overwrite the
  /// others' files).
  TrainRanks();
  ~TrainRanks();
  TrainRanks(const TrainRanks&) = delete;
  TrainRanks& operator=(const TrainRanks&) = delete;

  std::shared_ptr<const Communicator> communicator() const { return comm_; }
  /// Rank 0 prints, plots and writes files; the others only compute.
  bool is_root() const { return comm_->rank() == 0; }
  /// With several ranks: prints `message` as the CLI's error line, prefixed with the rank,
  /// and ends all ranks with exit status 2 (an error that one rank alone sees, such as an
  /// unwritable checkpoint, must not leave the others waiting). With one: returns.
  void abort_all(const std::string& message) const;

 private:
  struct Mpi;
  std::unique_ptr<Mpi> mpi_;
  std::shared_ptr<const Communicator> comm_;
};

/// The process count an MPI launcher gave this process (Open MPI's OMPI_COMM_WORLD_SIZE,
/// MPICH/Hydra's PMI_SIZE); 1 when started without one.
int launched_ranks();

}  // namespace revode::cli
