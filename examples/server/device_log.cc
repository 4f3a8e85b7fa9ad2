// device_log.cc: one writer thread, a coalescing queue.
#include "device_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

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
    // One RecordDevices (one store write) per kBatch devices: a burst of
    // connects costs a few synced writes, not one per device.
    std::vector<DeviceSighting> batch;
    batch.reserve(std::min(round.size(), kBatch));
    for (auto it = round.begin(); it != round.end();) {
      batch.clear();
      for (; it != round.end() && batch.size() < kBatch; ++it) {
        batch.push_back(DeviceSighting{it->first.first.view(), it->first.second.view(), it->second});
      }
      absl::Status s = store_.RecordDevices(batch);
      if (!s.ok()) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        spdlog::debug("event=device_log_failed devices={} error=\"{}\"", batch.size(),
                      s.ToString());
      }
    }
    if (stop) return;
  }
}

}  // namespace courier::server
