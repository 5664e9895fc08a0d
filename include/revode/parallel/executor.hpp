/// The one thread pool of revode (docs/parallel.md). Parallel work is a loop over *chunks*
/// (column blocks of a batch); the pool runs chunk indices on its threads and the caller
/// combines per-chunk results in chunk order, so no result depends on the thread count.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "revode/core/types.hpp"

namespace revode {

/// std::thread::hardware_concurrency(), or 1 when the platform does not say.
Index default_thread_count();

/// A fixed pool of threads, started once (by the first loop with more than one task) and
/// reused for every later loop: a loop costs one wake-up and one join, never a thread
/// creation. The calling thread works too: a pool of K threads starts K − 1 workers.
class Executor {
 public:
  /// K threads in all (0: default_thread_count()). @throws revode::Error unless 0 ≤ K ≤ 1024.
  explicit Executor(Index threads = 0);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  Index threads() const { return threads_; }

  /// Runs task(i, worker) for every i in [0, count) and returns when all are done. Threads
  /// take indices from a shared counter; `worker` ∈ [0, threads()) names the thread running
  /// the task (index per-thread scratch with it). If tasks throw, every task still runs to
  /// its end and the exception of the smallest failing i is rethrown (the same one for any
  /// thread count). A call from inside a task (nesting) or while another thread's loop holds
  /// the pool runs serially on the calling thread with worker 0.
  using Task = std::function<void(Index chunk, Index worker)>;
  void parallel_for(Index count, const Task& task);

  /// How many of `count` tasks a parallel_for called here would run at once: min(threads(),
  /// count), or 1 where it runs serially (one thread, one task, a call from inside a task).
  /// The memory limit counts this many chunks in flight (chunks_in_flight.hpp).
  Index concurrency(Index count) const;

 private:
  void worker_loop(Index worker);
  void run_tasks(Index worker);

  Index threads_;
  std::vector<std::thread> workers_;
  std::mutex loop_mutex_;  ///< held by the thread whose loop owns the pool
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  // The loop in progress (guarded by mutex_ except `next_`, taken under it too: chunks are
  // coarse, a lock per chunk costs nothing next to one).
  const Task* task_ = nullptr;
  Index count_ = 0, next_ = 0, busy_ = 0;
  unsigned long generation_ = 0;
  bool stop_ = false;
  Index failed_chunk_ = -1;
  std::exception_ptr failure_;
};

}  // namespace revode
