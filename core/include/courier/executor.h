// courier/executor.h: where the engine runs its work.
//
// The engine posts its work to two Executors: the commit executor and the
// delivery executor of its options. An executor left null there is created
// by the engine as its own ThreadPoolExecutor (one commit thread, two
// delivery threads; see courier/options.h) and joined when the engine is
// destroyed; those are the only threads the engine creates. A
// ThreadPoolExecutor runs tasks on its own threads; a ManualExecutor runs
// them only when a test calls RunOne/RunAll, which makes every schedule of
// the engine reproducible (the "tick" driver).
//
// Thread-safety: Post may be called from any thread, concurrently.
// Blocking: Post never blocks and never runs the task inside the call.
#ifndef COURIER_CORE_EXECUTOR_H_
#define COURIER_CORE_EXECUTOR_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "courier/export.h"
#include "courier/sync.h"

namespace courier {

class COURIER_EXPORT Executor {
 public:
  using Task = absl::AnyInvocable<void() &&>;
  Executor() = default;
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  virtual ~Executor() = default;

  // Queues `task`. Tasks posted from one thread to a single-threaded executor
  // run in the order posted.
  virtual void Post(Task task) = 0;
};

// Runs tasks on `threads` worker threads. The destructor runs every task
// already posted, then joins the threads. REQUIRES: threads >= 1.
// `name` (at most 15 bytes used) names the threads for top -H, perf and
// /proc/PID/task/*/comm; empty keeps the creating process's name.
class COURIER_EXPORT ThreadPoolExecutor final : public Executor {
 public:
  explicit ThreadPoolExecutor(std::size_t threads, const char* name = "");
  ~ThreadPoolExecutor() override;
  void Post(Task task) override;

 private:
  void Loop();
  Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  CondVar wake_;
  std::vector<std::thread> threads_;
};

// Queues tasks until the owner runs them, on the owner's thread.
// Thread-safety: Post from any thread; RunOne/RunAll from one thread at a time.
class COURIER_EXPORT ManualExecutor final : public Executor {
 public:
  ManualExecutor() = default;
  void Post(Task task) override;
  // Runs the task at position `index` of the queue (0 = oldest).
  // Returns false when the queue is empty. `index` is taken modulo the size.
  bool RunOne(std::size_t index = 0);
  // Runs tasks, including those they post, until the queue is empty.
  // Returns how many ran.
  std::size_t RunAll();
  std::size_t pending() const;

 private:
  mutable Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace courier

#endif  // COURIER_CORE_EXECUTOR_H_
