// event_loop.cc: courier-load's epoll loop.
#include "event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace courier::load {
namespace {

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Events taken per epoll_wait; more stay ready for the next turn.
constexpr int kMaxEvents = 256;

}  // namespace

EventLoop::EventLoop() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    status_ = Errno("epoll_create1");
    return;
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    status_ = Errno("eventfd");
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: read once per wake-up
  ev.data.ptr = nullptr;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) status_ = Errno("epoll_ctl");
}

EventLoop::~EventLoop() {
  // Handlers still registered are destroyed here (after Run returned).
  flush_.clear();
  ended_.clear();
  live_.clear();
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void EventLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_asked_ = true;
  }
  const std::uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void EventLoop::Post(std::function<void()> fn) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  // One wake-up per batch of posts: the loop takes them all at once.
  if (wake) {
    const std::uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
}

absl::Status EventLoop::Register(int fd, std::shared_ptr<LoopHandler> handler) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = handler.get();
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return Errno("epoll_ctl");
  LoopHandler* key = handler.get();
  live_[key] = std::move(handler);
  return absl::OkStatus();
}

void EventLoop::Unregister(LoopHandler* handler) {
  auto it = live_.find(handler);
  if (it == live_.end()) return;
  ended_.push_back(std::move(it->second));
  live_.erase(it);
}

void EventLoop::WantFlush(LoopHandler* handler) {
  if (handler->flush_queued_) return;
  handler->flush_queued_ = true;
  flush_.push_back(handler);
}

void EventLoop::RunPosted() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.swap(posted_);
    if (stop_asked_) stop_ = true;
  }
  for (auto& fn : running_) fn();
  running_.clear();
}

void EventLoop::Run() {
  if (!status_.ok()) return;
  epoll_event events[kMaxEvents];
  while (!stop_) {
    const int n = epoll_wait(epoll_fd_, events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      status_ = Errno("epoll_wait");
      return;
    }
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      auto* h = static_cast<LoopHandler*>(events[i].data.ptr);
      if (h == nullptr) {
        woken = true;
        continue;
      }
      // A handler unregistered earlier in this turn is still alive (ended_)
      // and ignores the event itself.
      h->OnReady(events[i].events);
    }
    if (woken) {
      std::uint64_t count;
      (void)!read(wake_fd_, &count, sizeof(count));
      RunPosted();
    }
    // Every socket that queued bytes in this turn writes them now.
    for (std::size_t i = 0; i < flush_.size(); ++i) {
      LoopHandler* h = flush_[i];
      h->flush_queued_ = false;
      h->OnFlush();
    }
    flush_.clear();
    ended_.clear();
  }
}

}  // namespace courier::load
