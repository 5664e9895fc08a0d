/// How the trainer combines the work of several processes: data-parallel training gives each
/// process (rank) a shard of every batch's trajectories and sums their scaled losses and
/// gradients. The serial reducer is the one-process default; integrations/mpi implements it
/// over MPI (revode::mpi, docs/mpi.md), so that neither the trainer nor the core library
/// depends on MPI.
#pragma once

#include "revode/core/types.hpp"

namespace revode {

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual int rank() const = 0;  ///< 0 … size() − 1
  virtual int size() const = 0;  ///< the number of ranks P ≥ 1
  /// Replaces `values` (the same length on every rank) by the sum over the ranks of their
  /// `values`, added in rank order ((v_0 + v_1) + v_2) + …, so that the result is bit for
  /// bit the same on every rank and from run to run. A collective call: every rank calls it.
  virtual void sum_in_rank_order(Vector<double>& values) const = 0;
};

/// One process: rank 0 of 1; the sum is the values themselves.
class SerialReducer final : public GradientReducer {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum_in_rank_order(Vector<double>&) const override {}
};

}  // namespace revode
