#include "revode/parallel/executor.hpp"

#include <algorithm>

#include "revode/core/error.hpp"

namespace revode {
namespace {

/// True on a pool's worker threads and on a caller while its loop runs: a nested
/// parallel_for then runs serially instead of waiting for threads that are busy with it.
thread_local bool inside_task = false;

}  // namespace

Index default_thread_count() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : Index(n);
}

Executor::Executor(Index threads) : threads_(threads == 0 ? default_thread_count() : threads) {
  require(threads >= 0 && threads <= 1024,
          "threads is {} but must be between 1 and 1024 (0: the machine's {} cores)", threads,
          default_thread_count());
}

Executor::~Executor() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void Executor::run_tasks(Index worker) {
  const bool was_inside = inside_task;
  inside_task = true;
  std::unique_lock lock(mutex_);
  while (next_ < count_) {
    const Index chunk = next_++;
    lock.unlock();
    std::exception_ptr error;
    try {
      (*task_)(chunk, worker);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error && (failed_chunk_ < 0 || chunk < failed_chunk_)) {
      failed_chunk_ = chunk;
      failure_ = error;
    }
  }
  inside_task = was_inside;
}

void Executor::worker_loop(Index worker) {
  unsigned long seen = 0;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    ++busy_;
    lock.unlock();
    run_tasks(worker);
    lock.lock();
    if (--busy_ == 0) done_.notify_all();
  }
}

Index Executor::concurrency(Index count) const {
  return threads_ == 1 || count <= 1 || inside_task ? 1 : std::min(threads_, count);
}

void Executor::parallel_for(Index count, const Task& task) {
  require(count >= 0, "parallel_for: {} tasks", count);
  std::unique_lock<std::mutex> owner(loop_mutex_, std::defer_lock);
  if (threads_ == 1 || count <= 1 || inside_task || !owner.try_lock()) {
    // Serial: same tasks, same order of combination by the caller, so the same numbers.
    const bool was_inside = inside_task;
    inside_task = true;
    struct Restore {
      bool value;
      ~Restore() { inside_task = value; }
    } restore{was_inside};
    for (Index i = 0; i < count; ++i) task(i, 0);
    return;
  }
  // Workers start with the first loop that has work for them (a batch of one chunk never
  // starts any), and then live as long as the executor.
  if (workers_.empty()) {
    workers_.reserve(std::size_t(threads_ - 1));
    for (Index w = 1; w < threads_; ++w) workers_.emplace_back([this, w] { worker_loop(w); });
  }
  {
    std::lock_guard lock(mutex_);
    task_ = &task;
    count_ = count;
    next_ = 0;
    failed_chunk_ = -1;
    failure_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  run_tasks(0);
  std::unique_lock lock(mutex_);
  // Workers that woke late find no chunk left and leave at once; wait for those still busy.
  done_.wait(lock, [&] { return busy_ == 0; });
  task_ = nullptr;
  count_ = 0;
  std::exception_ptr failure = failure_;
  failure_ = nullptr;
  lock.unlock();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace revode
