#include "redis_schema.h"

#include <charconv>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "courier/group.h"
#include "courier/status.h"
#include "courier/types.h"

namespace courier::redis {

std::string Schema::OnlineKey(std::string_view user) const {
  return absl::StrCat(prefix_, "online:{", std::string(user), "}");
}

std::string Schema::LastSeenKey(std::string_view user) const {
  return absl::StrCat(prefix_, "last_seen:{", std::string(user), "}");
}

std::string Schema::Channel(std::string_view node) const {
  return absl::StrCat(prefix_, "courier:node:", std::string(node));
}

std::optional<NodeId> Schema::NodeOfChannel(std::string_view channel) const {
  const std::string head = absl::StrCat(prefix_, "courier:node:");
  if (!channel.starts_with(head)) return std::nullopt;
  NodeId node(channel.substr(head.size()));
  if (!ValidateName("node", node).ok()) return std::nullopt;
  return node;
}

std::optional<DeviceValue> ParseDeviceValue(std::string_view value) {
  std::size_t bar = value.rfind('|');
  if (bar == std::string_view::npos || bar == 0) return std::nullopt;
  DeviceValue parsed;
  parsed.node = NodeId(value.substr(0, bar));
  std::string_view ms = value.substr(bar + 1);
  auto [end, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), parsed.refreshed);
  if (ec != std::errc() || end != ms.data() + ms.size()) return std::nullopt;
  return parsed;
}

std::string EncodeSignal(const Signal& signal) {
  std::string out = absl::StrCat("1|", static_cast<int>(signal.kind), "|", signal.user, "|",
                                 signal.device, "|", signal.from_node);
  if (signal.kind == Signal::Kind::kClose) absl::StrAppend(&out, "|", signal.close_code);
  if (signal.kind == Signal::Kind::kTyping) {
    absl::StrAppend(&out, "|", signal.from_user, "|", signal.group, "|", signal.on ? "1" : "0");
  }
  return out;
}

absl::StatusOr<Signal> DecodeSignal(std::string_view payload) {
  std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(payload.data(), payload.size()), '|');
  // A close signal carries its close code as a sixth field; a typing
  // signal its typist, group and on/off as fields six to eight.
  std::size_t fields = 5;
  if (parts.size() >= 2 && parts[1] == "4") fields = 6;
  if (parts.size() >= 2 && parts[1] == "5") fields = 8;
  if (parts.size() != fields || parts[0] != "1") {
    return absl::InvalidArgumentError(
        "signal payload is not 1|kind|user|device|from_node (|close code for kind 4, "
        "|from_user|group|on for kind 5)");
  }
  Signal signal;
  if (parts[1] == "1") {
    signal.kind = Signal::Kind::kWake;
  } else if (parts[1] == "2") {
    signal.kind = Signal::Kind::kKick;
  } else if (parts[1] == "3") {
    signal.kind = Signal::Kind::kPresence;
  } else if (parts[1] == "4") {
    signal.kind = Signal::Kind::kClose;
    int code = 0;
    if (!absl::SimpleAtoi(parts[5], &code) || code < 0 || code > 0xFFFF ||
        !IsApplicationCloseCode(static_cast<std::uint16_t>(code))) {
      return absl::InvalidArgumentError(
          absl::StrCat("close signal code '", parts[5], "' is not in 4000-4999"));
    }
    signal.close_code = static_cast<std::uint16_t>(code);
  } else if (parts[1] == "5") {
    signal.kind = Signal::Kind::kTyping;
    signal.from_user = parts[5];
    signal.group = parts[6];
    if (parts[7] != "0" && parts[7] != "1") {
      return absl::InvalidArgumentError(
          absl::StrCat("typing signal on/off '", parts[7], "' is not 0 or 1"));
    }
    signal.on = parts[7] == "1";
    COURIER_RETURN_IF_ERROR(ValidateName("signal from_user", signal.from_user));
    if (!signal.group.empty()) COURIER_RETURN_IF_ERROR(ValidateGroupId(signal.group));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown signal kind '", parts[1], "'"));
  }
  signal.user = parts[2];
  signal.device = parts[3];
  signal.from_node = parts[4];
  if (signal.kind == Signal::Kind::kTyping && !signal.group.empty()) {
    // In a group: no user (the receiving node reads the members).
    if (!signal.user.empty()) {
      return absl::InvalidArgumentError("a typing signal names a user or a group, not both");
    }
  } else {
    COURIER_RETURN_IF_ERROR(ValidateName("signal user", signal.user));
  }
  COURIER_RETURN_IF_ERROR(ValidateName("signal from_node", signal.from_node));
  if (signal.kind == Signal::Kind::kKick || !signal.device.empty()) {
    COURIER_RETURN_IF_ERROR(ValidateName("signal device", signal.device));
  }
  return signal;
}

// Shared by the scripts: parse "node|ms", and raise last_seen.
#define COURIER_REDIS_LUA_PRELUDE                                           \
  "local function parse(v)\n"                                               \
  "  if not v then return nil, nil end\n"                                   \
  "  local node, t = string.match(v, '^([^|]+)|(%-?%d+)$')\n"               \
  "  if node == nil then return nil, nil end\n"                             \
  "  return node, tonumber(t), t\n"                                         \
  "end\n"                                                                   \
  "local function raise_last_seen(key, t, text)\n"                          \
  "  local old = redis.call('GET', key)\n"                                  \
  "  if (not old) or (tonumber(old) or 0) < t then\n"                       \
  "    redis.call('SET', key, text)\n"                                      \
  "  end\n"                                                                 \
  "end\n"                                                                   \
  "-- Drops stale devices (their latest refresh raises last_seen); returns\n" \
  "-- the live ones as device -> node.\n"                                   \
  "local function live_devices(now, ttl)\n"                                 \
  "  local all = redis.call('HGETALL', KEYS[1])\n"                          \
  "  local live, count, stale, stale_text = {}, 0, nil, nil\n"              \
  "  for i = 1, #all, 2 do\n"                                               \
  "    local node, t, text = parse(all[i + 1])\n"                           \
  "    if node ~= nil and t + ttl > now then\n"                             \
  "      live[all[i]] = node\n"                                             \
  "      count = count + 1\n"                                               \
  "    else\n"                                                              \
  "      redis.call('HDEL', KEYS[1], all[i])\n"                             \
  "      if t ~= nil and (stale == nil or t > stale) then\n"                \
  "        stale, stale_text = t, text\n"                                   \
  "      end\n"                                                             \
  "    end\n"                                                               \
  "  end\n"                                                                 \
  "  if stale ~= nil then raise_last_seen(KEYS[2], stale, stale_text) end\n" \
  "  return live, count\n"                                                  \
  "end\n"

const char* const kConnectScript = COURIER_REDIS_LUA_PRELUDE
    "local now, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local live, count = live_devices(now, ttl)\n"
    "local was = live[ARGV[1]]\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "raise_last_seen(KEYS[2], now, ARGV[3])\n"
    "local became = 0\n"
    "if count == 0 then became = 1 end\n"
    "if was ~= nil and was ~= ARGV[2] then return {became, was} end\n"
    "return {became}\n";

const char* const kDisconnectScript = COURIER_REDIS_LUA_PRELUDE
    "local now, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local node = parse(redis.call('HGET', KEYS[1], ARGV[1]))\n"
    "if node == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end\n"
    "local live, count = live_devices(now, ttl)\n"
    "if count > 0 then return 0 end\n"
    "raise_last_seen(KEYS[2], now, ARGV[3])\n"
    "return 1\n";

const char* const kHeartbeatScript = COURIER_REDIS_LUA_PRELUDE
    "local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local live = live_devices(now, ttl)\n"
    "local wrote = false\n"
    "for i = 4, #ARGV do\n"
    "  local holder = live[ARGV[i]]\n"
    "  if holder == nil or holder == ARGV[1] then\n"
    "    redis.call('HSET', KEYS[1], ARGV[i], ARGV[1] .. '|' .. ARGV[2])\n"
    "    wrote = true\n"
    "  end\n"
    "end\n"
    "if wrote then\n"
    "  redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "  raise_last_seen(KEYS[2], now, ARGV[2])\n"
    "end\n"
    "return 0\n";

}  // namespace courier::redis
