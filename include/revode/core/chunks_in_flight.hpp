/// How many copies of one memory request run at once, for the memory limit
/// (allocation_limit.hpp): parallel_gradient runs up to K chunks at once on K threads, each
/// storing what its gradient method stores, so the limit must hold for all of them together,
/// not for one chunk (docs/parallel.md).
#pragma once

#include "revode/core/types.hpp"

namespace revode {

/// The number of chunks that run at once, of which the calling thread's work is one: 1
/// outside parallel chunks. require_memory checks this many times a request's bytes.
Index chunks_in_flight();

/// Multiplies chunks_in_flight() on the calling thread by `count` (≥ 1) for its lifetime: a
/// parallel chunk's task holds one. Nested parallel work multiplies.
class ChunksInFlight {
 public:
  explicit ChunksInFlight(Index count);
  ~ChunksInFlight();
  ChunksInFlight(const ChunksInFlight&) = delete;
  ChunksInFlight& operator=(const ChunksInFlight&) = delete;

 private:
  Index previous_;
};

}  // namespace revode
