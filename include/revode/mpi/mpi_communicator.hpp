/// revode::mpi (integrations/mpi, docs/mpi.md): data-parallel training over MPI. The one
/// component that includes mpi.h, and only in its source file: users of this header compile
/// without MPI's include paths, and the core library never sees MPI.
#pragma once

#include <vector>

#include "revode/train/communicator.hpp"

namespace revode::mpi {

/// MPI_Init on construction and MPI_Finalize on destruction, unless MPI was already
/// initialised by the caller, which then owns its finalisation.
class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// Ends every rank's process with `code` (MPI_Abort): a failure that only some ranks see
  /// would otherwise leave the others waiting in the next collective forever.
  [[noreturn]] void abort(int code) const;

 private:
  bool owns_ = false;
};

/// MPI_COMM_WORLD as a Communicator: all_gather is one MPI_Allgatherv. The trainer adds the
/// gathered chunks itself, in chunk order, rather than calling MPI_Allreduce, whose order of
/// additions MPI leaves to the implementation (and to the rank count): so the sum is bit for
/// bit the same on every rank, in every run and for every rank count. It moves C·n values to
/// each rank (C chunks, n parameters) instead of about 2n, which for the parameter vectors of
/// training (10³–10⁶ doubles) and the chunk counts of a few nodes costs little next to the
/// solves.
class Communicator final : public revode::Communicator {
 public:
  /// Needs a live Session (MPI initialised).
  Communicator();
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_gather(const Vector<double>& mine, Vector<double>& all,
                  const std::vector<Index>& counts) const override;

 private:
  int rank_ = 0, size_ = 1;
  mutable std::vector<int> counts_, displacements_;  // reused between calls
};

}  // namespace revode::mpi
