/// revode::mpi (integrations/mpi, docs/mpi.md): data-parallel training over MPI. The one
/// component that includes mpi.h, and only in its source file: users of this header compile
/// without MPI's include paths, and the core library never sees MPI.
#pragma once

#include <memory>
#include <vector>

#include "revode/train/gradient_reducer.hpp"

namespace revode::mpi {

/// MPI_Init on construction and MPI_Finalize on destruction (of the last Session), unless
/// MPI was already initialised by the caller, which then owns its finalisation.
class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int rank() const;  ///< in MPI_COMM_WORLD
  int size() const;
  /// Ends every rank's process with `code` (MPI_Abort): a failure that only some ranks see
  /// would otherwise leave the others waiting in the next collective forever.
  [[noreturn]] void abort(int code) const;

 private:
  bool owns_ = false;
};

/// The sum over MPI_COMM_WORLD's ranks: one MPI_Allgather of the n values of every rank,
/// then on every rank the same additions in rank order 0, 1, …, P − 1. Unlike MPI_Allreduce,
/// whose order of additions MPI leaves to the implementation (and which may differ between
/// ranks), this is bit for bit the same on every rank and in every run; it moves P·n values
/// to each rank instead of about 2n, which for the parameter vectors of training (10⁴–10⁶
/// doubles) and the rank counts of a few nodes costs little next to the solves.
class Reducer final : public GradientReducer {
 public:
  /// Needs a live Session (MPI initialised).
  Reducer();
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum_in_rank_order(Vector<double>& values) const override;

 private:
  int rank_ = 0, size_ = 1;
  mutable std::vector<double> gathered_;  // P·n, reused between calls
};

}  // namespace revode::mpi
