// device_log.cc: one writer thread, a coalescing queue.
#include "device_log.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace courier::server {

DeviceLog::DeviceLog(AccountStore& store, const Clock& clock)
    : store_(store), clock_(clock), thread_([this] { Run(); }) {}

DeviceLog::~DeviceLog() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void DeviceLog::Seen(const UserId& user, const DeviceId& device) {
  const TimeMs now = clock_.NowMs();
  absl::MutexLock lock(&mu_);
  Key key{NameKey(user), NameKey(device)};  // no heap block for names of up to 23 bytes
  auto it = queued_.find(key);
  if (it != queued_.end()) {
    if (it->second < now) it->second = now;
    return;
  }
  if (queued_.size() >= kMaxQueued) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  queued_.emplace(std::move(key), now);
}

void DeviceLog::Run() {
  while (true) {
    absl::flat_hash_map<Key, TimeMs> round;
    bool stop = false;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &DeviceLog::Ready));
      round.swap(queued_);
      stop = stop_;
    }
    for (const auto& [key, when] : round) {
      absl::Status s = store_.RecordDevice(key.first.str(), key.second.str(), when);
      if (!s.ok() && !absl::IsNotFound(s)) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        spdlog::debug("event=device_log_failed user={} device={} error=\"{}\"", key.first.view(),
                      key.second.view(), s.ToString());
      }
    }
    if (stop) return;
  }
}

}  // namespace courier::server
