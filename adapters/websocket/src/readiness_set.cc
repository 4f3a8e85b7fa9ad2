// readiness_set.cc: see readiness_set.h.
#include "readiness_set.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <boost/asio/post.hpp>

#include "courier/log.h"

namespace courier::websocket::internal {
namespace {

// Handlers of internal linkage (their Asio instantiations stay out of the
// library's exported symbols, tests/consumer).
struct WatchHandler {
  ReadinessSet* set;
  void operator()(const boost::system::error_code& ec) const { set->OnWatchReady(ec); }
};
struct ReleaseTask {
  std::shared_ptr<Readable> waiter;
  void operator()() { waiter.reset(); }
};

constexpr std::uint32_t kHangUp = EPOLLRDHUP | EPOLLHUP | EPOLLERR;

std::uint64_t Pack(ReadinessSet::Handle h) {
  return (static_cast<std::uint64_t>(h.generation) << 32) | h.index;
}

std::string Errno(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

}  // namespace

ReadinessSet::ReadinessSet(boost::asio::io_context& io) : io_(io) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) create_error_ = Errno("epoll_create1", errno);
}

ReadinessSet::~ReadinessSet() {
  if (epfd_ >= 0) ::close(epfd_);
}

absl::StatusOr<ReadinessSet::Handle> ReadinessSet::Add(int fd) {
  if (epfd_ < 0) return absl::UnavailableError("the loop has no readiness set: " + create_error_);
  if (shut_down_) return absl::UnavailableError("the loop's readiness set is shut down");
  if (!watch_.has_value()) {
    if (absl::Status s = StartWatching(); !s.ok()) return s;
  }
  std::uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    if (slots_.size() >= Handle::kNone) return absl::ResourceExhaustedError("readiness set full");
    index = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  const Handle h{index, slot.generation};
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = Pack(h);
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    const int err = errno;
    free_.push_back(index);
    return absl::UnavailableError(Errno("epoll_ctl(EPOLL_CTL_ADD)", err));
  }
  slot.fd = fd;
  slot.ready = false;
  slot.hung_up = false;
  ++in_use_;
  return h;
}

ReadinessSet::Slot* ReadinessSet::Find(Handle h) {
  if (!h.valid() || h.index >= slots_.size()) return nullptr;
  Slot& slot = slots_[h.index];
  if (slot.fd < 0 || slot.generation != h.generation) return nullptr;
  return &slot;
}

bool ReadinessSet::Wait(Handle h, std::shared_ptr<Readable> waiter) {
  Slot* slot = Find(h);
  if (slot == nullptr || shut_down_) return false;  // (not met: the read then ends it)
  if (slot->ready || slot->hung_up) {
    slot->ready = false;
    return false;
  }
  slot->waiter = std::move(waiter);
  return true;
}

void ReadinessSet::ClearReady(Handle h) {
  if (Slot* slot = Find(h)) slot->ready = false;
}

bool ReadinessSet::waiting(Handle h) const {
  if (!h.valid() || h.index >= slots_.size()) return false;
  const Slot& slot = slots_[h.index];
  return slot.fd >= 0 && slot.generation == h.generation && slot.waiter != nullptr;
}

void ReadinessSet::Remove(Handle& h) {
  Slot* slot = Find(h);
  const std::uint32_t index = h.index;
  h = Handle{};
  if (slot == nullptr) return;
  epoll_event ev{};  // (ignored by EPOLL_CTL_DEL; non-null for old kernels)
  // A failure means the fd closed already (the kernel took it out).
  (void)::epoll_ctl(epfd_, EPOLL_CTL_DEL, slot->fd, &ev);
  std::shared_ptr<Readable> waiter = std::move(slot->waiter);  // (leaves it null)
  slot->fd = -1;
  slot->ready = false;
  slot->hung_up = false;
  ++slot->generation;
  free_.push_back(index);
  --in_use_;
  // The connection itself is calling: its last reference must not go now.
  if (waiter != nullptr && !shut_down_) boost::asio::post(io_, ReleaseTask{std::move(waiter)});
}

absl::Status ReadinessSet::StartWatching() {
  watch_.emplace(io_.get_executor());
  boost::system::error_code ec;
  watch_->assign(epfd_, ec);
  if (ec) {
    watch_.reset();
    return absl::UnavailableError("watching the readiness set: " + ec.message());
  }
  Watch();
  return absl::OkStatus();
}

void ReadinessSet::Watch() {
  watch_->async_wait(Descriptor::wait_read, WatchHandler{this});
}

void ReadinessSet::OnWatchReady(const boost::system::error_code& ec) {
  if (shut_down_ || ec == boost::asio::error::operation_aborted) return;
  if (ec) {
    courier::Log(LogLevel::kError, "courier::websocket",
                 "waiting on the loop's readiness set failed: " + ec.message());
  }
  epoll_event events[kBatch];
  const int n = ::epoll_wait(epfd_, events, kBatch, 0);
  if (n < 0 && errno != EINTR) {
    courier::Log(LogLevel::kError, "courier::websocket",
                 Errno("epoll_wait on the loop's readiness set", errno));
  }
  for (int i = 0; i < n; ++i) Dispatch(events[i].data.u64, events[i].events);
  // (More than kBatch ready: the set stays readable, and the wait re-armed
  // here completes at once.)
  if (!shut_down_) Watch();
}

void ReadinessSet::Dispatch(std::uint64_t data, std::uint32_t events) {
  const Handle h{static_cast<std::uint32_t>(data), static_cast<std::uint32_t>(data >> 32)};
  Slot* slot = Find(h);
  if (slot == nullptr) return;  // removed since: a stale event
  if ((events & kHangUp) != 0) slot->hung_up = true;
  if (slot->waiter == nullptr) {
    slot->ready = true;
    return;
  }
  std::shared_ptr<Readable> waiter = std::move(slot->waiter);  // (leaves it null)
  waiter->OnReadable();  // (may Add, Wait or Remove: `slot` is not used after)
}

void ReadinessSet::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (watch_.has_value()) {
    watch_->release();  // (the descriptor is epfd_, closed by the destructor)
    watch_.reset();
  }
  std::vector<std::shared_ptr<Readable>> waiters;
  for (Slot& slot : slots_) {
    if (slot.waiter != nullptr) waiters.push_back(std::move(slot.waiter));  // (leaves it null)
  }
  waiters.clear();  // (connections going now may Remove themselves)
}

}  // namespace courier::websocket::internal
