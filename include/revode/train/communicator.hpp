/// How the trainer shares work between processes: data-parallel training gives each process
/// (rank) some of every batch's chunks and gathers every chunk's scaled loss and gradient on
/// every rank, where the trainer adds them in chunk order (trainer.hpp, docs/mpi.md). The
/// serial communicator is the one-process default; integrations/mpi implements it over MPI
/// (revode::mpi), so that neither the trainer nor the core library depends on MPI.
#pragma once

#include <vector>

#include "revode/core/types.hpp"

namespace revode {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;  ///< 0 … size() − 1
  virtual int size() const = 0;  ///< the number of ranks P ≥ 1
  /// Every rank's `mine` (rank r's of length counts[r]), concatenated in rank order into
  /// `all` (resized to Σ counts) on every rank. A collective call: every rank calls it, with
  /// the same counts.
  virtual void all_gather(const Vector<double>& mine, Vector<double>& all,
                          const std::vector<Index>& counts) const = 0;
};

/// One process: rank 0 of 1; all = mine.
class SerialCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_gather(const Vector<double>& mine, Vector<double>& all,
                  const std::vector<Index>&) const override {
    all = mine;
  }
};

}  // namespace revode
