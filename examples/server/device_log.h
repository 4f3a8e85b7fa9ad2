// device_log.h: records in the AccountStore which devices connect, for the
// admin API's device list (AccountStore::RecordDevices).
//
// The WebSocket server tells of each session that opens or ends on an io
// thread, which must not block; Seen only queues (user, device, now), and
// one thread of its own writes the queue to the store, the same device once
// per round, up to kBatch devices per RecordDevices (one write). A queue
// over kMaxQueued entries drops new ones (counted in dropped()): the list
// is informative, never needed for delivery. Store
// errors are logged at debug level and counted in dropped() once per failed
// RecordDevices call.
//
// Ownership: borrows `store` and `clock`, which must outlive it.
// Thread-safety: Seen and dropped from any thread.
// Blocking: Seen never; the destructor waits for the round in progress and
//   writes what is queued.
#ifndef COURIER_EXAMPLES_SERVER_DEVICE_LOG_H_
#define COURIER_EXAMPLES_SERVER_DEVICE_LOG_H_

#include <atomic>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "courier/account_store.h"
#include "courier/clock.h"
#include "courier/name_key.h"

namespace courier::server {

class DeviceLog {
 public:
  static constexpr std::size_t kMaxQueued = 100'000;
  // Devices per AccountStore::RecordDevices call of a round.
  static constexpr std::size_t kBatch = 1024;

  DeviceLog(AccountStore& store, const Clock& clock);
  ~DeviceLog();
  DeviceLog(const DeviceLog&) = delete;
  DeviceLog& operator=(const DeviceLog&) = delete;

  // `device` of `user` connected or went away now.
  void Seen(const UserId& user, const DeviceId& device);
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  void Run();
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queued_.empty(); }

  AccountStore& store_;
  const Clock& clock_;
  absl::Mutex mu_;
  // (user, device): NameKeys, so that a queue that a burst of connects
  // filled (each round waits for the store's writes) holds no heap block per
  // entry for names of up to 23 bytes.
  using Key = std::pair<NameKey, NameKey>;
  // (user, device) -> latest time seen; taken whole by each round.
  absl::flat_hash_map<Key, TimeMs> queued_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<std::uint64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_DEVICE_LOG_H_
