#include "courier/executor.h"

#include <pthread.h>

#include <string>
#include <utility>

namespace courier {

ThreadPoolExecutor::ThreadPoolExecutor(std::size_t threads, const char* name) {
  if (threads == 0) threads = 1;
  // The kernel keeps 15 bytes of a thread's name.
  const std::string thread_name = std::string(name == nullptr ? "" : name).substr(0, 15);
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this, thread_name] {
      if (!thread_name.empty()) pthread_setname_np(pthread_self(), thread_name.c_str());
      Loop();
    });
  }
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.SignalAll();
  for (auto& t : threads_) t.join();
}

void ThreadPoolExecutor::Post(Task task) {
  {
    MutexLock lock(&mu_);
    queue_.push_back(std::move(task));
  }
  wake_.Signal();
}

void ThreadPoolExecutor::Loop() {
  for (;;) {
    Task task;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) wake_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();
  }
}

void ManualExecutor::Post(Task task) {
  MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
}

bool ManualExecutor::RunOne(std::size_t index) {
  Task task;
  {
    MutexLock lock(&mu_);
    if (queue_.empty()) return false;
    index %= queue_.size();
    task = std::move(queue_[index]);
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(index));
  }
  std::move(task)();
  return true;
}

std::size_t ManualExecutor::RunAll() {
  std::size_t n = 0;
  while (RunOne(0)) ++n;
  return n;
}

std::size_t ManualExecutor::pending() const {
  MutexLock lock(&mu_);
  return queue_.size();
}

}  // namespace courier
