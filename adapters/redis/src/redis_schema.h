// The layout of presence in Redis (see courier/redis.h): key and channel
// names, the per-device value, the signal payload and the Lua scripts.
#ifndef COURIER_ADAPTERS_REDIS_REDIS_SCHEMA_H_
#define COURIER_ADAPTERS_REDIS_REDIS_SCHEMA_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/presence_store.h"

namespace courier::redis {

class Schema {
 public:
  explicit Schema(std::string prefix) : prefix_(std::move(prefix)) {}

  std::string OnlineKey(std::string_view user) const;    // P online:{U}
  std::string LastSeenKey(std::string_view user) const;  // P last_seen:{U}
  std::string Channel(std::string_view node) const;      // P courier:node:N
  // The node named by `channel`, or nullopt if it is not one of ours.
  std::optional<NodeId> NodeOfChannel(std::string_view channel) const;

 private:
  std::string prefix_;
};

// "node|refreshed_ms" -> (node, refreshed_ms); nullopt when malformed.
struct DeviceValue {
  NodeId node;
  TimeMs refreshed = 0;
};
std::optional<DeviceValue> ParseDeviceValue(std::string_view value);

// "1|kind|user|device|from_node", then "|close_code" for kClose (kind 4), or
// "|from_user|group|on" (on: 0 or 1) for kTyping (kind 5, whose `user` is
// empty when `group` is set). Kinds 1-3 keep the five fields they had, so a
// node of an older version decodes every signal it knew and refuses only
// the new kind. Decode validates every field.
std::string EncodeSignal(const Signal& signal);
absl::StatusOr<Signal> DecodeSignal(std::string_view payload);

// KEYS: online, last_seen. ARGV: device, node, now_ms, ttl_ms.
// Returns {became_online (0/1)} or {became_online, replaced_node}.
extern const char* const kConnectScript;
// KEYS: online, last_seen. ARGV: device, node, now_ms, ttl_ms.
// Returns 1 when no live device remains (last_seen is then raised to now).
extern const char* const kDisconnectScript;
// KEYS: online, last_seen. ARGV: node, now_ms, ttl_ms, device...
// Registers each device on node unless it is live on another node.
extern const char* const kHeartbeatScript;

}  // namespace courier::redis

#endif  // COURIER_ADAPTERS_REDIS_REDIS_SCHEMA_H_
