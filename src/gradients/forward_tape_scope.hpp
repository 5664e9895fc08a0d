/// The MLP's forward tape (Mlp::record_forwards) opened for the life of a scope, shared by
/// direct backprop (reverse order: its VJPs come after the whole forward solve, newest first)
/// and reversible backprop's backward walk (step order: each reverse step's evaluations, then
/// their VJPs). Each evaluation keeps its hidden layers so that the VJP at exactly its point
/// skips the forward recompute, bit for bit the same. Bounded by min(max_bytes, the memory
/// limit / 8); what does not fit is recomputed. Only an Mlp keeps one (every hidden layer at
/// batches narrower than Mlp::kForwardCacheMinBatch; at wider ones, in reverse order only, the
/// layers fed by a wide GEMM, Mlp::kWideTapeMinInputs): other fields recompute as before. (A
/// VectorField hook would serve every field; the Mlp is the one whose forward is worth keeping
/// today.) Internal to src/gradients.
#pragma once

#include <algorithm>
#include <cstdint>

#include "revode/core/allocation_limit.hpp"
#include "revode/nn/mlp.hpp"

namespace revode {

template <class T>
class ForwardTapeScope {
 public:
  using Order = typename Mlp<T>::TapeOrder;

  ForwardTapeScope(const VectorField<T>& field, std::uint64_t max_bytes, Order order)
      : mlp_(dynamic_cast<const Mlp<T>*>(&field)), order_(order) {
    const std::uint64_t bytes = std::min(max_bytes, memory_limit() / 8);
    if (mlp_ != nullptr) mlp_->record_forwards(Index(bytes / sizeof(T)), order);
  }
  /// Stops recording. A reverse-order tape stays for the VJPs that follow the scope (direct
  /// backprop records during the forward solve only); a step-order tape is the walk's own and
  /// is emptied.
  ~ForwardTapeScope() {
    if (mlp_ == nullptr) return;
    mlp_->record_forwards(0);
    if (order_ == Order::step) mlp_->drop_forwards();
  }
  ForwardTapeScope(const ForwardTapeScope&) = delete;
  ForwardTapeScope& operator=(const ForwardTapeScope&) = delete;

  /// Empties the tape, noting what it held (peak_floats).
  void drop() {
    if (mlp_ == nullptr) return;
    peak_ = std::max(peak_, mlp_->recorded_floats());
    mlp_->drop_forwards();
  }
  /// Scalars the tape holds now, and the most a drop found it holding (for stored_floats).
  Index recorded_floats() const { return mlp_ != nullptr ? mlp_->recorded_floats() : 0; }
  Index peak_floats() const { return peak_; }

 private:
  const Mlp<T>* mlp_;
  Order order_;
  Index peak_ = 0;
};

}  // namespace revode
